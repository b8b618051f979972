// What every client script shares: where the gateway is, and one JSON line out (or the error and exit code 1).
// Arguments: <gateway base URL> <API key> <model> [more...]; the environment's GATEWAY_URL, GATEWAY_KEY and
// GATEWAY_MODEL stand in for missing ones.

/** The tool every script offers; the test provider calls it with {"city":"Paris"}. */
export const weather = {
  name: 'weather',
  description: 'The weather of a city.',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

/** What the scripts' tools answer. */
export const forecast = (city) => `sunny in ${city}`;

export function target() {
  const [url = process.env.GATEWAY_URL, key = process.env.GATEWAY_KEY, model = process.env.GATEWAY_MODEL, ...more] = process.argv.slice(2);
  if (!url || !key || !model) {
    throw new Error('usage: node <script> <gateway base URL> <API key> <model> (or GATEWAY_URL, GATEWAY_KEY, GATEWAY_MODEL)');
  }
  return { url: url.replace(/\/+$/, ''), key, model, more };
}

/** Runs the client's calls and prints their results as one JSON line; any failure is printed with what the server said. */
export async function run(calls) {
  try {
    const results = await calls(target());
    process.stdout.write(JSON.stringify(results) + '\n');
  } catch (error) {
    const details = {
      error: `${error?.name ?? 'Error'}: ${error?.message ?? error}`,
      status: error?.status ?? error?.statusCode,
      url: error?.url,
      body: error?.responseBody ?? error?.error,
      cause: error?.cause ? String(error.cause?.message ?? error.cause) : undefined,
    };
    process.stderr.write(JSON.stringify(details) + '\n');
    process.exitCode = 1;
  }
}
