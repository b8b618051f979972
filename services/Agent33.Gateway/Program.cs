using Agent33.Gateway;
using Agent33.Gateway.Monitoring;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddGatewayServices();

var app = builder.Build();

app.MapDefaultEndpoints();
app.MapConnectorsApi();
app.MapConnectorProxy();
app.MapUnknownConnectorFallback();

app.Run();

public partial class Program;
