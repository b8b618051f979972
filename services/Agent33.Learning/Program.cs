using Agent33.Learning;
using Agent33.Learning.Apis;
using Agent33.Learning.Persistence;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddLearningServices();

var app = builder.Build();

app.MapDefaultEndpoints();
app.MapLearningSignalsApi();
app.MapOperationsApi();

await app.MigrateLearningDatabaseAsync();
app.Run();

public partial class Program;
