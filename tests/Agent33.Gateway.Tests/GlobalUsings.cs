// Every gateway test reads Prometheus text with the shared sampler.
global using static Agent33.Testing.PrometheusText;
