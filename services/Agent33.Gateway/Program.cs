using Agent33.Gateway;
using Agent33.Gateway.Llm;
using Agent33.Gateway.Monitoring;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddGatewayServices();

var app = builder.Build();

app.MapDefaultEndpoints();
app.MapConnectorsApi();
app.MapLlmApi();
app.MapConnectorProxy();
app.MapUnknownConnectorFallback();

app.Run();

public partial class Program;
