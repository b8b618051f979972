using Agent33.Demo;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddDemoWorkload();

var app = builder.Build();

app.MapDefaultEndpoints();
app.MapDemoUpstreams();

app.Run();
