namespace Agent33.AppHost;

public static class LocalHttp
{
    /// <summary>
    /// The services serve plain http (locally, and behind the cluster's ingress in Kubernetes). Aspire otherwise
    /// counts every project as a TLS user and, on a machine without a trusted development certificate (Linux, CI),
    /// warns at start and shows a red "No trusted development certificate" banner in the dashboard.
    /// </summary>
    public static IResourceBuilder<ProjectResource> HttpOnly(this IResourceBuilder<ProjectResource> project)
    {
#pragma warning disable ASPIRECERTIFICATES001 // experimental in Aspire 13, and the one way to say "no certificate"
        return project.WithoutHttpsCertificate();
#pragma warning restore ASPIRECERTIFICATES001
    }
}
