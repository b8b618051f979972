using Agent33.Gateway;
using Agent33.Gateway.Connectors;
using Agent33.Gateway.Llm;
using Agent33.Gateway.Llm.Spend;
using Agent33.Gateway.Mcp;
using Agent33.Gateway.Monitoring;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddGatewayServices();

var app = builder.Build();
await app.MigrateGatewayDatabaseAsync();

app.MapDefaultEndpoints(ahead: pipeline => pipeline.UseConnectorFastPath(app));
app.MapConnectorsApi();
app.MapMcpToolsApi();
app.MapLlmApi();
app.MapMcpAuditApi();
app.MapMcpAggregate();
app.MapConnectorProxy();
app.MapUnknownConnectorFallback();

await app.RunAsync();

public partial class Program;
