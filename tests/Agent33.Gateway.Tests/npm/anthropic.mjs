// The `@anthropic-ai/sdk` npm client over the gateway's Messages API: one message, one stream, one tool round trip.
import Anthropic from '@anthropic-ai/sdk';
import { forecast, run, weather } from './common.mjs';

await run(async ({ url, key, model }) => {
  const client = new Anthropic({ baseURL: url, apiKey: key, maxRetries: 0, timeout: 30_000 });
  const tools = [{ name: weather.name, description: weather.description, input_schema: weather.parameters }];
  const text = (message) => message.content.filter((b) => b.type === 'text').map((b) => b.text).join('');

  const message = await client.messages.create({
    model,
    max_tokens: 100,
    system: 'be brief',
    messages: [{ role: 'user', content: 'hello' }],
  });
  const answer = {
    text: text(message),
    finish: message.stop_reason,
    usage: [message.usage.input_tokens, message.usage.output_tokens],
  };

  const pieces = [];
  const stream = client.messages.stream({ model, max_tokens: 100, messages: [{ role: 'user', content: 'hello' }] });
  stream.on('text', (piece) => pieces.push(piece));
  const final = await stream.finalMessage();
  const streamed = {
    text: pieces.join(''),
    pieces: pieces.filter((p) => p.length > 0).length,
    finish: final.stop_reason,
    usage: [final.usage.input_tokens, final.usage.output_tokens],
  };

  const conversation = [{ role: 'user', content: 'What is the weather?' }];
  const call = await client.messages.create({ model, max_tokens: 100, messages: conversation, tools });
  const toolUse = call.content.find((b) => b.type === 'tool_use');
  conversation.push(
    { role: 'assistant', content: call.content },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: toolUse.id, content: forecast(toolUse.input.city) }] },
  );
  const answered = await client.messages.create({ model, max_tokens: 100, messages: conversation, tools });
  const tool = { finish: call.stop_reason, name: toolUse.name, arguments: toolUse.input, text: text(answered) };

  // The same call streamed (stream: true, the raw events): the input arrives as partial JSON in pieces.
  const partials = [];
  let streamedName = null;
  let streamedFinish = null;
  const events = await client.messages.create({ model, max_tokens: 100, messages: [{ role: 'user', content: 'What is the weather?' }], tools, stream: true });
  for await (const event of events) {
    if (event.type === 'content_block_start' && event.content_block.type === 'tool_use') streamedName = event.content_block.name;
    if (event.type === 'content_block_delta' && event.delta.type === 'input_json_delta') partials.push(event.delta.partial_json);
    if (event.type === 'message_delta') streamedFinish = event.delta.stop_reason;
  }
  const streamedTool = { name: streamedName, arguments: JSON.parse(partials.join('')), pieces: partials.filter((p) => p.length > 0).length, finish: streamedFinish };

  return { answer, stream: streamed, tool, streamedTool };
});
