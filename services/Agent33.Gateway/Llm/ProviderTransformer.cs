using Agent33.Gateway.Boundary;
using Agent33.Gateway.Catalog;
using Microsoft.AspNetCore.Http.Features;
using Yarp.ReverseProxy.Forwarder;

namespace Agent33.Gateway.Llm;

/// <summary>Sends the call to the provider in its connector's format with the provider's key, never the caller's.</summary>
internal sealed class ProviderTransformer(ConnectorOptions connector, Formats.IUpstreamFormat format, string path, bool translated, RoutingDecision? decision, string model)
    : HttpTransformer
{
    public override async ValueTask TransformRequestAsync(HttpContext http, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        await base.TransformRequestAsync(http, proxyRequest, destinationPrefix, cancellationToken);
        proxyRequest.RequestUri = new Uri(destinationPrefix.TrimEnd('/') + "/" + path);
        HeaderPolicy.Apply(http.Request, proxyRequest, connector.ApiKey);
        format.Authorize(proxyRequest, connector.ApiKey);
        proxyRequest.Headers.AcceptEncoding.Clear(); // an answer the usage tap can read
    }

    public override async ValueTask<bool> TransformResponseAsync(HttpContext http, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
    {
        var proceed = await base.TransformResponseAsync(http, proxyResponse, cancellationToken);
        if (translated)
        {
            http.Response.ContentLength = null; // the translated answer has its own length
        }
        if (proxyResponse is not null && http.Features.Get<IHttpResponseBodyFeature>() is AttemptResponseBody body)
        {
            body.OnHeaders(proxyResponse);
        }
        var headers = http.Response.Headers;
        headers[OutcomeWriter.ConnectorHeader] = connector.Id;
        headers["X-Agent33-Model"] = model;
        if (decision is not null)
        {
            headers["X-Agent33-Effort"] = decision.Effort;
            headers["X-Agent33-Effort-Source"] = decision.EffortSource;
        }
        return proceed;
    }
}
