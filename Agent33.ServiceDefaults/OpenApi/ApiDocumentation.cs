using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.OpenApi;
using Scalar.AspNetCore;

namespace Agent33.ServiceDefaults.OpenApi;

/// <summary>
/// Each service's OpenAPI document (<c>/openapi/v1.json</c>): the API-key scheme, and the problem+json
/// error shape with its stable <c>code</c> on every operation that needs a key. The interactive
/// reference (Scalar, <c>/scalar</c>) is served in Development only.
/// </summary>
public static class ApiDocumentation
{
    public const string DocumentPath = "/openapi/{documentName}.json";
    public const string SchemeName = "ApiKey";
    private const string ProblemSchema = "Problem";

    public static IServiceCollection AddApiDocumentation(this IServiceCollection services) =>
        services.AddOpenApi(options =>
        {
            options.AddDocumentTransformer((document, _, _) =>
            {
                document.Components ??= new OpenApiComponents();
                document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
                document.Components.SecuritySchemes[SchemeName] = new OpenApiSecurityScheme
                {
                    Type = SecuritySchemeType.Http,
                    Scheme = "bearer",
                    Description = "An Agent33 API key, as 'Authorization: Bearer <key>' (or the X-Api-Key header). " +
                                  "A key carries a tenant and scopes: read, write, admin.",
                };
                document.Components.Schemas ??= new Dictionary<string, IOpenApiSchema>();
                document.Components.Schemas[ProblemSchema] = new OpenApiSchema
                {
                    Type = JsonSchemaType.Object,
                    Description = "RFC 9457 problem details with the contract's stable machine code.",
                    Required = new HashSet<string> { "type", "title", "status", "code" },
                    Properties = new Dictionary<string, IOpenApiSchema>
                    {
                        ["type"] = new OpenApiSchema { Type = JsonSchemaType.String },
                        ["title"] = new OpenApiSchema { Type = JsonSchemaType.String },
                        ["status"] = new OpenApiSchema { Type = JsonSchemaType.Integer },
                        ["detail"] = new OpenApiSchema { Type = JsonSchemaType.String },
                        ["code"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "Stable machine code, e.g. unauthenticated, forbidden, invalid_json." },
                    },
                };
                return Task.CompletedTask;
            });
            options.AddOperationTransformer((operation, context, _) =>
            {
                var anonymous = context.Description.ActionDescriptor.EndpointMetadata.OfType<IAllowAnonymous>().Any();
                if (anonymous)
                {
                    return Task.CompletedTask;
                }
                var document = context.Document;
                operation.Security ??= [];
                operation.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(SchemeName, document)] = [] });
                operation.Responses ??= new OpenApiResponses();
                foreach (var (status, description) in new[]
                         {
                             ("400", "Bad input (code names the problem)."),
                             ("401", "No or unknown API key (unauthenticated)."),
                             ("403", "The key lacks the scope or tenant (forbidden, cross_tenant_denied)."),
                         })
                {
                    if (operation.Responses.ContainsKey(status))
                    {
                        continue;
                    }
                    operation.Responses[status] = new OpenApiResponse
                    {
                        Description = description,
                        Content = new Dictionary<string, OpenApiMediaType>
                        {
                            ["application/problem+json"] = new() { Schema = new OpenApiSchemaReference(ProblemSchema, document) },
                        },
                    };
                }
                return Task.CompletedTask;
            });
        });

    public static WebApplication MapApiDocumentation(this WebApplication app)
    {
        app.MapOpenApi(DocumentPath).AllowAnonymous();
        if (app.Environment.IsDevelopment())
        {
            app.MapScalarApiReference(o => o.AddPreferredSecuritySchemes(SchemeName)).AllowAnonymous();
        }
        return app;
    }
}
