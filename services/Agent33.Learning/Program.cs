using Agent33.Learning.Persistence;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddLearningPersistence();

var app = builder.Build();

app.MapDefaultEndpoints();

await app.MigrateLearningDatabaseAsync();
app.Run();

public partial class Program;
