// The Vercel AI SDK (`ai` with `@ai-sdk/openai`) over the gateway: generateText, streamText, and a tool the SDK calls
// itself (a second step with the tool's result), plain and streamed.
// The fourth argument picks the provider's API: `chat` (openai.chat(model), chat completions) or `responses`
// (openai(model), the provider's default, which posts to /v1/responses).
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, stepCountIs, streamText, tool } from 'ai';
import { z } from 'zod';
import { forecast, run, weather as weatherTool } from './common.mjs';

await run(async ({ url, key, model: modelId, more: [api = 'chat'] }) => {
  const openai = createOpenAI({ baseURL: `${url}/v1`, apiKey: key });
  const model = api === 'responses' ? openai(modelId) : api === 'chat' ? openai.chat(modelId) : null;
  if (!model) throw new Error(`unknown API '${api}' (chat or responses)`);
  const tools = {
    [weatherTool.name]: tool({
      description: weatherTool.description,
      inputSchema: z.object({ city: z.string() }),
      execute: async ({ city }) => forecast(city),
    }),
  };
  const usage = (u) => [u.inputTokens, u.outputTokens];

  const generated = await generateText({ model, system: 'be brief', prompt: 'hello', maxRetries: 0 });
  const answer = { text: generated.text, finish: generated.finishReason, usage: usage(generated.usage) };

  const pieces = [];
  const streaming = streamText({ model, prompt: 'hello', maxRetries: 0, onError: () => {} });
  for await (const piece of streaming.textStream) {
    if (piece) pieces.push(piece);
  }
  const streamed = { text: pieces.join(''), pieces: pieces.length, finish: await streaming.finishReason, usage: usage(await streaming.usage) };

  const withTool = await generateText({ model, tools, stopWhen: stepCountIs(3), prompt: 'What is the weather?', maxRetries: 0 });
  const call = withTool.steps[0].toolCalls[0];
  const toolResult = {
    steps: withTool.steps.length,
    finish: withTool.steps[0].finishReason,
    name: call?.toolName,
    arguments: call?.input,
    text: withTool.text,
  };

  // The same round trip streamed: the SDK assembles the streamed call, runs the tool, streams the second step.
  const streamedSteps = streamText({ model, tools, stopWhen: stepCountIs(3), prompt: 'What is the weather?', maxRetries: 0, onError: () => {} });
  let streamedText = '';
  const calls = [];
  for await (const part of streamedSteps.fullStream) {
    if (part.type === 'text-delta') streamedText += part.text;
    if (part.type === 'tool-call') calls.push({ name: part.toolName, arguments: part.input });
    if (part.type === 'error') throw part.error;
  }
  const streamedTool = { steps: (await streamedSteps.steps).length, name: calls[0]?.name, arguments: calls[0]?.arguments, calls: calls.length, text: streamedText };

  return { answer, stream: streamed, tool: toolResult, streamedTool };
});
