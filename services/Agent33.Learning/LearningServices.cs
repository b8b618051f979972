using Agent33.Learning.Domain;
using Agent33.Learning.Persistence;
using Microsoft.Extensions.Options;

namespace Agent33.Learning;

public static class LearningServices
{
    public static IHostApplicationBuilder AddLearningServices(this IHostApplicationBuilder builder)
    {
        builder.AddLearningPersistence();
        builder.Services.AddOptions<LearningOptions>().BindConfiguration(LearningOptions.Section).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<LearningOptions>, LearningOptionsValidation>();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddScoped<LearningStore>();
        builder.Services.AddHostedService<LearningPruner>();
        return builder;
    }
}
