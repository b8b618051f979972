using Agent33.AppHost;
using Agent33.AppHost.Commands;
using Agent33.AppHost.Postgres;
using Agent33.AppHost.Redis;
using Agent33.Contracts;

string[] hostArgs;
IReadOnlyDictionary<string, int> replicas;
IDistributedApplicationBuilder builder;
try
{
    // --replicas N is shorthand for Replicas:Default=N (see ReplicaSettings); bad counts stop the run here, before anything starts.
    hostArgs = ReplicaSettings.ExpandArgs(args.Where(a => a != DemoWorkload.Flag).ToArray());
    builder = DistributedApplication.CreateBuilder(hostArgs);
    replicas = ReplicaSettings.Read(builder.Configuration);
}
catch (ReplicaSettingsException ex)
{
    Console.Error.WriteLine($"Invalid replica setting: {ex.Message}");
    return 1;
}

var apiKeys = builder.AddApiKeys();
var (learningDb, gatewayDb, learningDbReady) = builder.AddLearningDatabase();
var rateLimits = builder.AddRateLimitStore(); // per-key write limits shared by every replica of a service

var learning = builder.AddProject<Projects.Agent33_Learning>(ResourceNames.Learning)
    .HttpOnly()
    .WithReference(learningDb)
    .WaitFor(learningDbReady)
    .WithApiKeys(apiKeys)
    .WithRateLimitStore(rateLimits)
    .WithHttpHealthCheck(ServicePaths.Health)
    .WithLearningCommands(apiKeys);

// Deployments back up daily and keep a week of backups; a local run takes none unless told to
// (--Learning:Backups:Schedule=1.00:00:00 on the service, see docs/operators/backup-restore.md).
if (builder.ExecutionContext.IsPublishMode)
{
    learning.WithEnvironment("Learning__Backups__Schedule", "1.00:00:00").WithEnvironment("Learning__Backups__Keep", "7");
}

var routing = builder.AddProject<Projects.Agent33_Routing>(ResourceNames.Routing)
    .HttpOnly()
    .WithReference(learning)
    .WithApiKeys(apiKeys)
    .WithRateLimitStore(rateLimits)
    .WithHttpHealthCheck(ServicePaths.Health)
    .WithRoutingCommands(apiKeys);

var gateway = builder.AddProject<Projects.Agent33_Gateway>(ResourceNames.Gateway)
    .HttpOnly()
    .WithReference(learning)
    .WithReference(routing) // the LLM endpoint asks routing for each call's effort and prices its usage there
    .WithReference(gatewayDb, connectionName: "gateway") // LLM spend, shared by every replica
    .WaitFor(learningDbReady) // the server is up once the learning database is
    .WithApiKeys(apiKeys)
    .WithRateLimitStore(rateLimits)
    .WithHttpHealthCheck(ServicePaths.Health)
    .WithGatewayCommands(apiKeys);

// Lets an operator try a policy pack from the AppHost's command line (--Governance:PolicyPack=mcp-readonly).
if (builder.Configuration["Governance:PolicyPack"] is { Length: > 0 } policyPack)
{
    gateway.WithEnvironment("Governance__PolicyPack", policyPack);
}

// Local runs only: each service runs as N processes behind Aspire's proxy, which balances the service's one
// endpoint across them, and the dashboard lists every replica. Kubernetes replica counts, the autoscaler and the
// disruption budgets come from deploy/Agent33.Deploy, not from these settings (see docs/deploy.md).
if (builder.ExecutionContext.IsRunMode)
{
    learning.WithReplicas(replicas[ResourceNames.Learning]);
    routing.WithReplicas(replicas[ResourceNames.Routing]);
    gateway.WithReplicas(replicas[ResourceNames.Gateway]);
}

if (DemoWorkload.IsRequested(args, builder.Configuration))
{
    builder.AddDemoWorkload(gateway, routing, learning, apiKeys);
}

builder.Build().Run();
return 0;
