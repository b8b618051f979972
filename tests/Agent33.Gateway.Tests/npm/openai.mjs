// The `openai` npm client over the gateway's chat completions: one answer, one stream, one tool round trip.
import OpenAI from 'openai';
import { forecast, run, weather } from './common.mjs';

await run(async ({ url, key, model }) => {
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: key, maxRetries: 0, timeout: 30_000 });
  const tools = [{ type: 'function', function: weather }];

  const completion = await client.chat.completions.create({
    model,
    messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hello' }],
  });
  const answer = {
    text: completion.choices[0].message.content,
    finish: completion.choices[0].finish_reason,
    usage: [completion.usage?.prompt_tokens, completion.usage?.completion_tokens],
  };

  const pieces = [];
  let usage = null;
  let finish = null;
  const stream = await client.chat.completions.create({
    model,
    messages: [{ role: 'user', content: 'hello' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  for await (const chunk of stream) {
    const content = chunk.choices[0]?.delta?.content;
    if (content) pieces.push(content);
    finish ??= chunk.choices[0]?.finish_reason ?? null;
    if (chunk.usage) usage = [chunk.usage.prompt_tokens, chunk.usage.completion_tokens];
  }
  const streamed = { text: pieces.join(''), pieces: pieces.length, finish, usage };

  const conversation = [{ role: 'user', content: 'What is the weather?' }];
  const call = await client.chat.completions.create({ model, messages: conversation, tools });
  const toolCall = call.choices[0].message.tool_calls[0];
  const city = JSON.parse(toolCall.function.arguments).city;
  conversation.push(call.choices[0].message, { role: 'tool', tool_call_id: toolCall.id, content: forecast(city) });
  const final = await client.chat.completions.create({ model, messages: conversation, tools });
  const tool = {
    finish: call.choices[0].finish_reason,
    name: toolCall.function.name,
    arguments: JSON.parse(toolCall.function.arguments),
    text: final.choices[0].message.content,
  };

  // The same call streamed: the arguments arrive in pieces and are put together by the caller.
  const argumentPieces = [];
  let streamedName = null;
  let streamedFinish = null;
  const toolStream = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'What is the weather?' }], tools, stream: true });
  for await (const chunk of toolStream) {
    for (const piece of chunk.choices[0]?.delta?.tool_calls ?? []) {
      streamedName ??= piece.function?.name ?? null;
      if (piece.function?.arguments) argumentPieces.push(piece.function.arguments);
    }
    streamedFinish ??= chunk.choices[0]?.finish_reason ?? null;
  }
  const streamedTool = { name: streamedName, arguments: JSON.parse(argumentPieces.join('')), pieces: argumentPieces.length, finish: streamedFinish };

  return { answer, stream: streamed, tool, streamedTool };
});
