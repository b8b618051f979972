using Agent33.Learning;
using Agent33.Learning.Apis;
using Agent33.Learning.LegacyMigration;
using Agent33.Learning.Persistence;

if (LearningCommandLine.IsCommand(args))
{
    return await LearningCommandLine.RunAsync(args);
}

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddLearningServices();

var app = builder.Build();

app.MapDefaultEndpoints();
app.MapLearningSignalsApi();
app.MapOperationsApi();

await app.MigrateLearningDatabaseAsync();
await app.ImportLegacyOnStartAsync();
await app.RunAsync();
return 0;

public partial class Program;
