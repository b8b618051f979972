using Agent33.Routing;
using Agent33.Routing.Apis;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddRoutingServices();

var app = builder.Build();

app.MapDefaultEndpoints();
app.MapRoutingApi();
app.MapDashboardApi();

app.Run();

public partial class Program;
