using System.Text.Json.Nodes;
using Agent33.Gateway.Boundary;
using static Agent33.Gateway.Llm.Formats.ChatShapes;

namespace Agent33.Gateway.Llm.Formats;

/// <summary>What Anthropic's Messages API and chat completions call the same things.</summary>
internal static class AnthropicNames
{
    public const string Version = "2023-06-01";

    public static string FinishReason(string? stopReason) => stopReason switch
    {
        "max_tokens" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        _ => "stop",
    };

    public static string StopReason(string? finishReason) => finishReason switch
    {
        "length" => "max_tokens",
        "tool_calls" or "function_call" => "tool_use",
        "content_filter" => "refusal",
        _ => "end_turn",
    };

    /// <summary>Anthropic's error shape: <c>{"type":"error","error":{"type","message"}}</c>.</summary>
    public static JsonObject Error(string type, string message) =>
        new() { ["type"] = "error", ["error"] = new JsonObject { ["type"] = type, ["message"] = message } };

    /// <summary>Input tokens as Anthropic splits them (uncached, written to and read from the cache), added up.</summary>
    public static long InputTokens(JsonObject? usage) =>
        Long(usage?["input_tokens"]) + Long(usage?["cache_creation_input_tokens"]) + Long(usage?["cache_read_input_tokens"]);

    public static JsonObject ImageBlock(string url)
    {
        // data:<media type>;base64,<data> travels as a base64 source; anything else as a URL source.
        if (url.StartsWith("data:", StringComparison.Ordinal) && url.IndexOf(";base64,", StringComparison.Ordinal) is > 5 and var marker)
        {
            return new JsonObject
            {
                ["type"] = "image",
                ["source"] = new JsonObject { ["type"] = "base64", ["media_type"] = url[5..marker], ["data"] = url[(marker + 8)..] },
            };
        }
        return new JsonObject { ["type"] = "image", ["source"] = new JsonObject { ["type"] = "url", ["url"] = url } };
    }

    public static string ImageUrl(JsonObject block)
    {
        var source = block["source"] as JsonObject;
        return Text(source?["type"]) switch
        {
            "base64" => $"data:{Text(source!["media_type"])};base64,{Text(source["data"])}",
            "url" => Text(source!["url"]) ?? throw new InvalidLlmRequestException("An image's url source needs a url."),
            _ => throw new InvalidLlmRequestException("Images are taken as base64 or url sources."),
        };
    }
}

/// <summary>
/// <c>Format=anthropic</c>: a chat request sent as Anthropic Messages to <c>{Destination}/messages</c> with the
/// connector's key as <c>x-api-key</c>; its answers (JSON and events) read back as chat.
/// </summary>
public sealed class AnthropicFormat : IUpstreamFormat
{
    public string Path => "messages";

    public void Authorize(HttpRequestMessage upstream, string? apiKey)
    {
        upstream.Headers.Authorization = null;
        if (apiKey is { Length: > 0 })
        {
            upstream.Headers.TryAddWithoutValidation("x-api-key", apiKey);
        }
        upstream.Headers.Remove("anthropic-version");
        upstream.Headers.TryAddWithoutValidation("anthropic-version", AnthropicNames.Version);
    }

    public JsonObject FromChat(JsonObject chat)
    {
        foreach (var field in (string[])["n", "logprobs", "top_logprobs", "response_format", "audio", "modalities", "prediction", "logit_bias"])
        {
            if (field != "n" || Int(chat["n"]) is > 1)
            {
                Refuse(chat, field, "anthropic");
            }
        }
        var request = new JsonObject
        {
            ["model"] = chat["model"]?.DeepClone(),
            ["max_tokens"] = MaxTokens(chat) ?? 4096,
        };
        var system = new List<string>();
        var messages = new JsonArray();
        foreach (var node in chat["messages"] as JsonArray ?? [])
        {
            if (node is not JsonObject message)
            {
                throw new InvalidLlmRequestException("Each message must be an object.");
            }
            switch (Text(message["role"]))
            {
                case "system" or "developer":
                    system.Add(ContentText(message["content"]));
                    break;
                case "user":
                    Append(messages, "user", UserBlocks(message["content"]));
                    break;
                case "assistant":
                    Append(messages, "assistant", AssistantBlocks(message));
                    break;
                case "tool":
                    Append(messages, "user", [new JsonObject
                    {
                        ["type"] = "tool_result",
                        ["tool_use_id"] = Text(message["tool_call_id"]) ?? throw new InvalidLlmRequestException("A tool message needs tool_call_id."),
                        ["content"] = ContentText(message["content"]),
                    }]);
                    break;
                default:
                    throw new InvalidLlmRequestException("A message's role must be system, developer, user, assistant or tool.");
            }
        }
        if (system.Count > 0)
        {
            request["system"] = string.Join("\n\n", system);
        }
        request["messages"] = messages;
        if (chat["tools"] is JsonArray { Count: > 0 } tools)
        {
            request["tools"] = new JsonArray([.. tools.Select(Tool)]);
        }
        if (ToolChoice(chat["tool_choice"], chat["parallel_tool_calls"]) is { } choice)
        {
            request["tool_choice"] = choice;
        }
        if (chat["stop"] is { } stop)
        {
            request["stop_sequences"] = stop is JsonArray many ? many.DeepClone() : new JsonArray(stop.DeepClone());
        }
        foreach (var field in (string[])["temperature", "top_p", "stream"])
        {
            if (chat[field] is { } value)
            {
                request[field] = value.DeepClone();
            }
        }
        if (Text(chat["user"]) is { } user)
        {
            request["metadata"] = new JsonObject { ["user_id"] = user };
        }
        return request;
    }

    /// <summary>Consecutive messages of one role become one (tool results after an assistant turn travel as one user turn).</summary>
    private static void Append(JsonArray messages, string role, IReadOnlyList<JsonNode> blocks)
    {
        if (messages.LastOrDefault() is JsonObject last && Text(last["role"]) == role)
        {
            var content = (JsonArray)last["content"]!;
            foreach (var block in blocks)
            {
                content.Add(block);
            }
            return;
        }
        messages.Add(new JsonObject { ["role"] = role, ["content"] = new JsonArray([.. blocks]) });
    }

    private static List<JsonNode> UserBlocks(JsonNode? content)
    {
        if (Text(content) is { } text)
        {
            return [new JsonObject { ["type"] = "text", ["text"] = text }];
        }
        var blocks = new List<JsonNode>();
        foreach (var part in content as JsonArray ?? throw new InvalidLlmRequestException("A user message's content must be a string or an array of parts."))
        {
            blocks.Add(Text(part?["type"]) switch
            {
                "text" => new JsonObject { ["type"] = "text", ["text"] = Text(part!["text"]) ?? "" },
                "image_url" => AnthropicNames.ImageBlock(Text(part!["image_url"]?["url"]) ?? throw new InvalidLlmRequestException("An image_url part needs a url.")),
                var other => throw new InvalidLlmRequestException($"A content part of type '{other}' has no equivalent in the anthropic format."),
            });
        }
        return blocks;
    }

    private static List<JsonNode> AssistantBlocks(JsonObject message)
    {
        var blocks = new List<JsonNode>();
        if (ContentText(message["content"]) is { Length: > 0 } text)
        {
            blocks.Add(new JsonObject { ["type"] = "text", ["text"] = text });
        }
        foreach (var call in message["tool_calls"] as JsonArray ?? [])
        {
            var name = Text(call?["function"]?["name"]) ?? throw new InvalidLlmRequestException("A tool call needs function.name.");
            blocks.Add(new JsonObject
            {
                ["type"] = "tool_use",
                ["id"] = Text(call!["id"]) ?? throw new InvalidLlmRequestException("A tool call needs an id."),
                ["name"] = name,
                ["input"] = Arguments(Text(call["function"]?["arguments"]), name),
            });
        }
        return blocks;
    }

    private static JsonNode Tool(JsonNode? tool)
    {
        if (Text(tool?["type"]) != "function" || tool!["function"] is not JsonObject function)
        {
            throw new InvalidLlmRequestException("Only function tools can be sent to an anthropic connector.");
        }
        var result = new JsonObject
        {
            ["name"] = function["name"]?.DeepClone(),
            ["input_schema"] = function["parameters"]?.DeepClone() ?? new JsonObject { ["type"] = "object", ["properties"] = new JsonObject() },
        };
        if (function["description"] is { } description)
        {
            result["description"] = description.DeepClone();
        }
        return result;
    }

    private static JsonObject? ToolChoice(JsonNode? choice, JsonNode? parallel)
    {
        var result = Text(choice) switch
        {
            "auto" => new JsonObject { ["type"] = "auto" },
            "required" => new JsonObject { ["type"] = "any" },
            "none" => new JsonObject { ["type"] = "none" },
            null when Text(choice?["function"]?["name"]) is { } name => new JsonObject { ["type"] = "tool", ["name"] = name },
            _ => null,
        };
        if (parallel is JsonValue p && p.TryGetValue<bool>(out var allowed) && !allowed)
        {
            result ??= new JsonObject { ["type"] = "auto" };
            result["disable_parallel_tool_use"] = true;
        }
        return result;
    }

    public AnswerTranslator Answers(TranslationContext context) => new ToChat(context);

    /// <summary>Anthropic's answers as chat completions.</summary>
    private sealed class ToChat(TranslationContext context) : AnswerTranslator
    {
        private string _id = TranslationContext.NewId("chatcmpl-");
        private string _model = context.Model;
        private long _input, _output;
        private readonly Dictionary<int, int> _toolOfBlock = [];

        public override JsonObject Answer(JsonObject answer)
        {
            string? text = null;
            var calls = new JsonArray();
            foreach (var block in answer["content"] as JsonArray ?? [])
            {
                switch (Text(block?["type"]))
                {
                    case "text":
                        text = (text ?? "") + Text(block!["text"]);
                        break;
                    case "tool_use":
                        calls.Add(ToolCall(Text(block!["id"]) ?? "", Text(block["name"]) ?? "", block["input"]?.ToJsonString() ?? "{}"));
                        break;
                }
            }
            var usage = answer["usage"] as JsonObject;
            return ChatShapes.Answer(Text(answer["id"]) ?? _id, Text(answer["model"]) ?? _model, context.Created, text, calls,
                AnthropicNames.FinishReason(Text(answer["stop_reason"])), usage is null ? null : AnthropicNames.InputTokens(usage), usage is null ? null : Long(usage["output_tokens"]));
        }

        public override JsonObject Error(int status, JsonObject? error)
        {
            var body = error?["error"] as JsonObject;
            return ChatErrors.Of(Text(body?["message"]) ?? $"The provider answered {status}.", Text(body?["type"]) ?? "api_error", null);
        }

        public override void Event(SseEvent input, List<SseEvent> output)
        {
            if (input.Object() is not { } data)
            {
                return;
            }
            switch (Text(data["type"]) ?? input.Name)
            {
                case "message_start":
                    var message = data["message"] as JsonObject;
                    _id = Text(message?["id"]) ?? _id;
                    _model = Text(message?["model"]) ?? _model;
                    _input = AnthropicNames.InputTokens(message?["usage"] as JsonObject);
                    _output = Long(message?["usage"]?["output_tokens"]);
                    Emit(output, new JsonObject { ["role"] = "assistant", ["content"] = "" });
                    break;
                case "content_block_start" when data["content_block"] is JsonObject { } block:
                    if (Text(block["type"]) == "tool_use")
                    {
                        var tool = _toolOfBlock.Count;
                        _toolOfBlock[Int(data["index"]) ?? tool] = tool;
                        var call = ToolCall(Text(block["id"]) ?? "", Text(block["name"]) ?? "", "");
                        call["index"] = tool;
                        Emit(output, new JsonObject { ["tool_calls"] = new JsonArray(call) });
                    }
                    else if (Text(block["type"]) == "text" && Text(block["text"]) is { Length: > 0 } start)
                    {
                        Emit(output, new JsonObject { ["content"] = start });
                    }
                    break;
                case "content_block_delta" when data["delta"] is JsonObject { } delta:
                    if (Text(delta["type"]) == "text_delta")
                    {
                        Emit(output, new JsonObject { ["content"] = Text(delta["text"]) ?? "" });
                    }
                    else if (Text(delta["type"]) == "input_json_delta" && _toolOfBlock.TryGetValue(Int(data["index"]) ?? -1, out var index))
                    {
                        Emit(output, new JsonObject
                        {
                            ["tool_calls"] = new JsonArray(new JsonObject { ["index"] = index, ["function"] = new JsonObject { ["arguments"] = Text(delta["partial_json"]) ?? "" } }),
                        });
                    }
                    break;
                case "message_delta":
                    if (data["usage"] is JsonObject usage)
                    {
                        _output = Long(usage["output_tokens"]);
                        _input = Math.Max(_input, AnthropicNames.InputTokens(usage));
                    }
                    if (Text(data["delta"]?["stop_reason"]) is { } stop)
                    {
                        output.Add(SseEvent.Json(null, Chunk(_id, _model, context.Created, null, AnthropicNames.FinishReason(stop))));
                    }
                    break;
                case "message_stop":
                    output.Add(SseEvent.Json(null, UsageChunk(_id, _model, context.Created, _input, _output)));
                    output.Add(new SseEvent(null, SseEvent.Done)); // a stream cut before message_stop ends without it: the caller sees the cut
                    break;
                case "error":
                    output.Add(SseEvent.Json(null, Error(500, data)));
                    break;
            }
        }

        private void Emit(List<SseEvent> output, JsonObject delta) => output.Add(SseEvent.Json(null, Chunk(_id, _model, context.Created, delta)));
    }
}

/// <summary>
/// Anthropic Messages inbound (<c>POST /v1/messages</c>): system, content blocks (text, images), tools, tool_use and
/// tool_result, streaming with <c>message_start</c> … <c>message_stop</c>, errors in Anthropic's shape.
/// </summary>
public sealed class MessagesApi : IInboundApi
{
    public string Label => "messages";

    public ErrorShape Errors => ErrorShape.Anthropic;

    public ValueTask<JsonObject> ReadRequestAsync(JsonObject body, HttpContext http)
    {
        foreach (var field in (string[])["thinking", "top_k", "container", "mcp_servers"])
        {
            Refuse(body, field, "gateway's common (chat completions)");
        }
        if (body["messages"] is not JsonArray { Count: > 0 } messages)
        {
            throw new InvalidLlmRequestException("messages: a non-empty array is required.");
        }
        var chat = new JsonObject();
        if (body["model"] is { } model)
        {
            chat["model"] = model.DeepClone();
        }
        var chatMessages = new JsonArray();
        if (body["system"] is { } system)
        {
            chatMessages.Add(new JsonObject { ["role"] = "system", ["content"] = ContentText(system) });
        }
        foreach (var node in messages)
        {
            var message = node as JsonObject ?? throw new InvalidLlmRequestException("messages: each message must be an object.");
            var role = Text(message["role"]);
            if (role is not ("user" or "assistant"))
            {
                throw new InvalidLlmRequestException("messages: role must be user or assistant.");
            }
            if (Text(message["content"]) is { } text)
            {
                chatMessages.Add(new JsonObject { ["role"] = role, ["content"] = text });
                continue;
            }
            var blocks = message["content"] as JsonArray ?? throw new InvalidLlmRequestException("messages: content must be a string or an array of blocks.");
            if (role == "user")
            {
                AddUser(chatMessages, blocks);
            }
            else
            {
                AddAssistant(chatMessages, blocks);
            }
        }
        chat["messages"] = chatMessages;
        if (Int(body["max_tokens"]) is { } maxTokens)
        {
            chat["max_tokens"] = maxTokens;
        }
        if (body["tools"] is JsonArray { Count: > 0 } tools)
        {
            chat["tools"] = new JsonArray([.. tools.Select(Tool)]);
        }
        if (body["tool_choice"] is JsonObject choice)
        {
            chat["tool_choice"] = Text(choice["type"]) switch
            {
                "any" => "required",
                "none" => "none",
                "tool" => new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = Text(choice["name"]) } },
                _ => "auto",
            };
            if (choice["disable_parallel_tool_use"] is JsonValue d && d.TryGetValue<bool>(out var disabled) && disabled)
            {
                chat["parallel_tool_calls"] = false;
            }
        }
        if (body["stop_sequences"] is JsonArray stops)
        {
            chat["stop"] = stops.DeepClone();
        }
        foreach (var field in (string[])["temperature", "top_p", "stream"])
        {
            if (body[field] is { } value)
            {
                chat[field] = value.DeepClone();
            }
        }
        if (Text(body["metadata"]?["user_id"]) is { } user)
        {
            chat["user"] = user;
        }
        return ValueTask.FromResult(chat);
    }

    private static void AddUser(JsonArray chatMessages, JsonArray blocks)
    {
        var parts = new JsonArray();
        foreach (var node in blocks)
        {
            var block = node as JsonObject ?? throw new InvalidLlmRequestException("messages: each content block must be an object.");
            switch (Text(block["type"]))
            {
                case "text":
                    parts.Add(new JsonObject { ["type"] = "text", ["text"] = Text(block["text"]) ?? "" });
                    break;
                case "image":
                    parts.Add(new JsonObject { ["type"] = "image_url", ["image_url"] = new JsonObject { ["url"] = AnthropicNames.ImageUrl(block) } });
                    break;
                case "tool_result":
                    var result = ContentText(block["content"]);
                    chatMessages.Add(new JsonObject
                    {
                        ["role"] = "tool",
                        ["tool_call_id"] = Text(block["tool_use_id"]) ?? throw new InvalidLlmRequestException("messages: a tool_result needs tool_use_id."),
                        ["content"] = block["is_error"] is JsonValue e && e.TryGetValue<bool>(out var failed) && failed ? $"Error: {result}" : result,
                    });
                    break;
                case var other:
                    throw new InvalidLlmRequestException($"messages: a content block of type '{other}' is not translated by the gateway.");
            }
        }
        if (parts.Count > 0)
        {
            chatMessages.Add(new JsonObject { ["role"] = "user", ["content"] = parts });
        }
    }

    private static void AddAssistant(JsonArray chatMessages, JsonArray blocks)
    {
        string? text = null;
        var calls = new JsonArray();
        foreach (var block in blocks)
        {
            switch (Text(block?["type"]))
            {
                case "text":
                    text = (text ?? "") + Text(block!["text"]);
                    break;
                case "tool_use":
                    calls.Add(ToolCall(Text(block!["id"]) ?? throw new InvalidLlmRequestException("messages: a tool_use needs an id."),
                        Text(block["name"]) ?? throw new InvalidLlmRequestException("messages: a tool_use needs a name."), block["input"]?.ToJsonString() ?? "{}"));
                    break;
                case "thinking" or "redacted_thinking":
                    break; // the model's own notes: not part of what the next turn needs
                case var other:
                    throw new InvalidLlmRequestException($"messages: an assistant block of type '{other}' is not translated by the gateway.");
            }
        }
        var message = new JsonObject { ["role"] = "assistant", ["content"] = text };
        if (calls.Count > 0)
        {
            message["tool_calls"] = calls;
        }
        chatMessages.Add(message);
    }

    private static JsonNode Tool(JsonNode? tool)
    {
        if (tool is not JsonObject definition || Text(definition["name"]) is not { } name || definition["input_schema"] is not JsonObject schema)
        {
            throw new InvalidLlmRequestException("tools: each tool needs a name and an input_schema (server tools are not translated by the gateway).");
        }
        var function = new JsonObject { ["name"] = name, ["parameters"] = schema.DeepClone() };
        if (definition["description"] is { } description)
        {
            function["description"] = description.DeepClone();
        }
        return new JsonObject { ["type"] = "function", ["function"] = function };
    }

    public AnswerTranslator Answers(TranslationContext context, HttpContext http) => new FromChat(context);

    /// <summary>Chat completion answers as Anthropic Messages.</summary>
    private sealed class FromChat(TranslationContext context) : AnswerTranslator
    {
        private readonly string _id = TranslationContext.NewId("msg_");
        private bool _started, _finished;
        private int _blocks;
        private int? _openBlock;
        private readonly Dictionary<int, int> _blockOfTool = [];
        private string? _finishReason;
        private long? _prompt, _completion;

        public override JsonObject Answer(JsonObject answer)
        {
            var (text, calls, finish, prompt, completion) = ReadAnswer(answer);
            var content = new JsonArray();
            if (!string.IsNullOrEmpty(text))
            {
                content.Add(new JsonObject { ["type"] = "text", ["text"] = text });
            }
            foreach (var call in calls)
            {
                var name = Text(call?["function"]?["name"]) ?? "";
                content.Add(new JsonObject
                {
                    ["type"] = "tool_use",
                    ["id"] = Text(call?["id"]) ?? "",
                    ["name"] = name,
                    ["input"] = ParseInput(Text(call?["function"]?["arguments"])),
                });
            }
            return new JsonObject
            {
                ["id"] = _id,
                ["type"] = "message",
                ["role"] = "assistant",
                ["model"] = Text(answer["model"]) ?? context.Model,
                ["content"] = content,
                ["stop_reason"] = AnthropicNames.StopReason(finish),
                ["stop_sequence"] = null,
                ["usage"] = new JsonObject { ["input_tokens"] = prompt, ["output_tokens"] = completion },
            };
        }

        /// <summary>A model's arguments that are not a JSON object are passed on as text rather than lost.</summary>
        private static JsonNode ParseInput(string? arguments)
        {
            try
            {
                return string.IsNullOrWhiteSpace(arguments) ? new JsonObject() : JsonNode.Parse(arguments) as JsonObject ?? new JsonObject { ["arguments"] = arguments };
            }
            catch (System.Text.Json.JsonException)
            {
                return new JsonObject { ["arguments"] = arguments };
            }
        }

        public override JsonObject Error(int status, JsonObject? error)
        {
            var (message, _, _) = ChatErrors.Read(status, error);
            return AnthropicNames.Error(OutcomeWriter.AnthropicType(status), message);
        }

        public override void Event(SseEvent input, List<SseEvent> output)
        {
            if (input.Data == SseEvent.Done)
            {
                Finish(output);
                return;
            }
            if (input.Object() is not { } chunk)
            {
                return;
            }
            var parts = Read(chunk);
            if (parts.Error is { } error)
            {
                var (message, _, _) = ChatErrors.Read(500, error);
                output.Add(SseEvent.Json("error", AnthropicNames.Error("api_error", message)));
                return;
            }
            _prompt = parts.Prompt ?? _prompt;
            _completion = parts.Completion ?? _completion;
            if (!_started && (chunk["choices"] as JsonArray)?.Count > 0)
            {
                Start(output, Text(chunk["model"]));
            }
            if (parts.Content is { Length: > 0 } text)
            {
                if (_openBlock is null || _blockOfTool.ContainsValue(_openBlock.Value))
                {
                    Open(output, new JsonObject { ["type"] = "text", ["text"] = "" });
                }
                output.Add(Delta(new JsonObject { ["type"] = "text_delta", ["text"] = text }));
            }
            foreach (var call in parts.ToolCalls ?? [])
            {
                var tool = Int(call?["index"]) ?? 0;
                if (Text(call?["id"]) is { } id)
                {
                    Open(output, new JsonObject { ["type"] = "tool_use", ["id"] = id, ["name"] = Text(call!["function"]?["name"]) ?? "", ["input"] = new JsonObject() });
                    _blockOfTool[tool] = _openBlock!.Value;
                }
                if (Text(call?["function"]?["arguments"]) is { Length: > 0 } arguments && _blockOfTool.TryGetValue(tool, out var block))
                {
                    output.Add(SseEvent.Json("content_block_delta", new JsonObject
                    {
                        ["type"] = "content_block_delta",
                        ["index"] = block,
                        ["delta"] = new JsonObject { ["type"] = "input_json_delta", ["partial_json"] = arguments },
                    }));
                }
            }
            if (parts.FinishReason is { } finish)
            {
                _finishReason = finish;
                Close(output);
            }
        }

        public override void End(List<SseEvent> output)
        {
            if (_started && !_finished)
            {
                // Cut before the provider finished: say so, rather than a message_stop that reads as complete.
                output.Add(SseEvent.Json("error", AnthropicNames.Error("api_error", "The provider's stream ended before its answer was complete.")));
                _finished = true;
            }
        }

        private void Start(List<SseEvent> output, string? model)
        {
            _started = true;
            output.Add(SseEvent.Json("message_start", new JsonObject
            {
                ["type"] = "message_start",
                ["message"] = new JsonObject
                {
                    ["id"] = _id,
                    ["type"] = "message",
                    ["role"] = "assistant",
                    ["model"] = model ?? context.Model,
                    ["content"] = new JsonArray(),
                    ["stop_reason"] = null,
                    ["stop_sequence"] = null,
                    ["usage"] = new JsonObject { ["input_tokens"] = context.PromptTokens, ["output_tokens"] = 0 },
                },
            }));
        }

        private void Open(List<SseEvent> output, JsonObject block)
        {
            Close(output);
            _openBlock = _blocks++;
            output.Add(SseEvent.Json("content_block_start", new JsonObject { ["type"] = "content_block_start", ["index"] = _openBlock, ["content_block"] = block }));
        }

        private SseEvent Delta(JsonObject delta) =>
            SseEvent.Json("content_block_delta", new JsonObject { ["type"] = "content_block_delta", ["index"] = _openBlock, ["delta"] = delta });

        private void Close(List<SseEvent> output)
        {
            if (_openBlock is { } open)
            {
                output.Add(SseEvent.Json("content_block_stop", new JsonObject { ["type"] = "content_block_stop", ["index"] = open }));
                _openBlock = null;
            }
        }

        private void Finish(List<SseEvent> output)
        {
            if (_finished)
            {
                return;
            }
            if (!_started)
            {
                Start(output, null);
            }
            Close(output);
            _finished = true;
            output.Add(SseEvent.Json("message_delta", new JsonObject
            {
                ["type"] = "message_delta",
                ["delta"] = new JsonObject { ["stop_reason"] = AnthropicNames.StopReason(_finishReason), ["stop_sequence"] = null },
                ["usage"] = new JsonObject { ["input_tokens"] = _prompt ?? context.PromptTokens, ["output_tokens"] = _completion ?? 0 },
            }));
            output.Add(SseEvent.Json("message_stop", new JsonObject { ["type"] = "message_stop" }));
        }
    }
}
