using Agent33.AppHost;
using Agent33.AppHost.Postgres;

var builder = DistributedApplication.CreateBuilder(args);

var apiKeys = builder.AddApiKeys();
var (learningDb, postgres) = builder.AddLearningDatabase();

var learning = builder.AddProject<Projects.Agent33_Learning>(ResourceNames.Learning)
    .WithReference(learningDb)
    .WaitFor(postgres)
    .WithApiKeys(apiKeys)
    .WithHttpHealthCheck("/health");

var routing = builder.AddProject<Projects.Agent33_Routing>(ResourceNames.Routing)
    .WithReference(learning)
    .WithApiKeys(apiKeys)
    .WithHttpHealthCheck("/health");

builder.AddProject<Projects.Agent33_Gateway>(ResourceNames.Gateway)
    .WithReference(learning)
    .WithApiKeys(apiKeys)
    .WithHttpHealthCheck("/health");

builder.Build().Run();
