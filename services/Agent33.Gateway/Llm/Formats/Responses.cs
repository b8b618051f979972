using System.Text;
using System.Text.Json.Nodes;
using Agent33.Gateway.Boundary;
using Agent33.ServiceDefaults.Auth;
using static Agent33.Gateway.Llm.Formats.ChatShapes;

namespace Agent33.Gateway.Llm.Formats;

/// <summary>What OpenAI's Responses API and chat completions call the same things.</summary>
internal static class ResponsesNames
{
    /// <summary>A Responses <c>usage</c> object, with the details the SDKs read.</summary>
    public static JsonObject Usage(long input, long output, long cached, long reasoning) => new()
    {
        ["input_tokens"] = input,
        ["input_tokens_details"] = new JsonObject { ["cached_tokens"] = cached },
        ["output_tokens"] = output,
        ["output_tokens_details"] = new JsonObject { ["reasoning_tokens"] = reasoning },
        ["total_tokens"] = input + output,
    };

    /// <summary>A chat usage object (and its details) as Responses usage.</summary>
    public static JsonObject? FromChatUsage(JsonObject? usage) => usage is null
        ? null
        : Usage(Long(usage["prompt_tokens"]), Long(usage["completion_tokens"]), Long(usage["prompt_tokens_details"]?["cached_tokens"]),
            Long(usage["completion_tokens_details"]?["reasoning_tokens"]));

    /// <summary>A Responses usage object as chat usage, details kept.</summary>
    public static JsonObject ToChatUsage(JsonObject usage)
    {
        var chat = ChatShapes.Usage(Long(usage["input_tokens"]), Long(usage["output_tokens"]));
        chat["prompt_tokens_details"] = new JsonObject { ["cached_tokens"] = Long(usage["input_tokens_details"]?["cached_tokens"]) };
        chat["completion_tokens_details"] = new JsonObject { ["reasoning_tokens"] = Long(usage["output_tokens_details"]?["reasoning_tokens"]) };
        return chat;
    }

    /// <summary>Why an answer is incomplete, as the Responses API says it (null: it is complete).</summary>
    public static string? IncompleteReason(string? finishReason) => finishReason switch
    {
        "length" => "max_output_tokens",
        "content_filter" => "content_filter",
        _ => null,
    };

    /// <summary>The chat finish reason of a finished Responses answer.</summary>
    public static string FinishReason(JsonObject response, bool calledTools) =>
        Text(response["incomplete_details"]?["reason"]) switch
        {
            "max_output_tokens" => "length",
            "content_filter" => "content_filter",
            _ => calledTools ? "tool_calls" : "stop",
        };

    /// <summary>The text of a message item's content (a string, or its text parts joined).</summary>
    public static string ItemText(JsonNode? content)
    {
        if (Text(content) is { } text)
        {
            return text;
        }
        var joined = new StringBuilder();
        foreach (var part in content as JsonArray ?? [])
        {
            joined.Append(Text(part?["text"]) ?? Text(part?["refusal"]));
        }
        return joined.ToString();
    }

    /// <summary>An <c>output_text</c> content part.</summary>
    public static JsonObject OutputText(string text) => new() { ["type"] = "output_text", ["text"] = text, ["annotations"] = new JsonArray(), ["logprobs"] = new JsonArray() };

    public static JsonObject MessageItem(string id, string status, string? text) => new()
    {
        ["id"] = id,
        ["type"] = "message",
        ["status"] = status,
        ["role"] = "assistant",
        ["content"] = text is null ? new JsonArray() : new JsonArray(OutputText(text)),
    };

    public static JsonObject FunctionCallItem(string id, string status, string callId, string name, string arguments) => new()
    {
        ["id"] = id,
        ["type"] = "function_call",
        ["status"] = status,
        ["arguments"] = arguments,
        ["call_id"] = callId,
        ["name"] = name,
    };
}

/// <summary>
/// <c>Format=openai-responses</c>: a chat request sent as an OpenAI Responses request to <c>{Destination}/responses</c>
/// (never stored by the provider: the gateway keeps what it stores); its answers (JSON and typed events) read back as chat.
/// </summary>
public sealed class OpenAiResponsesFormat : IUpstreamFormat
{
    public string Path => "responses";

    public void Authorize(HttpRequestMessage upstream, string? apiKey)
    {
        // HeaderPolicy already set Authorization: Bearer with the connector's key, as OpenAI's Responses API reads it.
    }

    public JsonObject FromChat(JsonObject chat)
    {
        foreach (var field in (string[])["n", "logprobs", "top_logprobs", "audio", "modalities", "prediction", "logit_bias", "stop"])
        {
            if (field != "n" || Int(chat["n"]) is > 1)
            {
                Refuse(chat, field, "openai-responses");
            }
        }
        var request = new JsonObject { ["model"] = chat["model"]?.DeepClone() };
        var instructions = new List<string>();
        var input = new JsonArray();
        var leading = true;
        foreach (var node in chat["messages"] as JsonArray ?? [])
        {
            var message = node as JsonObject ?? throw new InvalidLlmRequestException("Each message must be an object.");
            var role = Text(message["role"]);
            if (role is "system" or "developer" && leading)
            {
                // The leading system prompt is what the Responses API calls instructions; later ones stay in place.
                instructions.Add(ContentText(message["content"]));
                continue;
            }
            leading = false;
            switch (role)
            {
                case "system" or "developer":
                    input.Add(new JsonObject { ["type"] = "message", ["role"] = role, ["content"] = ContentText(message["content"]) });
                    break;
                case "user":
                    input.Add(new JsonObject { ["type"] = "message", ["role"] = "user", ["content"] = UserContent(message["content"]) });
                    break;
                case "assistant":
                    if (ContentText(message["content"]) is { Length: > 0 } text)
                    {
                        input.Add(new JsonObject { ["type"] = "message", ["role"] = "assistant", ["content"] = text });
                    }
                    foreach (var call in message["tool_calls"] as JsonArray ?? [])
                    {
                        input.Add(new JsonObject
                        {
                            ["type"] = "function_call",
                            ["call_id"] = Text(call?["id"]) ?? throw new InvalidLlmRequestException("A tool call needs an id."),
                            ["name"] = Text(call!["function"]?["name"]) ?? throw new InvalidLlmRequestException("A tool call needs function.name."),
                            ["arguments"] = Text(call["function"]?["arguments"]) ?? "{}",
                        });
                    }
                    break;
                case "tool":
                    input.Add(new JsonObject
                    {
                        ["type"] = "function_call_output",
                        ["call_id"] = Text(message["tool_call_id"]) ?? throw new InvalidLlmRequestException("A tool message needs tool_call_id."),
                        ["output"] = ContentText(message["content"]),
                    });
                    break;
                default:
                    throw new InvalidLlmRequestException("A message's role must be system, developer, user, assistant or tool.");
            }
        }
        if (instructions.Count > 0)
        {
            request["instructions"] = string.Join("\n\n", instructions);
        }
        request["input"] = input;
        if (chat["tools"] is JsonArray { Count: > 0 } tools)
        {
            request["tools"] = new JsonArray([.. tools.Select(Tool)]);
        }
        if (chat["tool_choice"] is { } choice)
        {
            request["tool_choice"] = Text(choice) is { } mode
                ? mode
                : new JsonObject { ["type"] = "function", ["name"] = Text(choice["function"]?["name"]) ?? throw new InvalidLlmRequestException("tool_choice needs function.name.") };
        }
        if (MaxTokens(chat) is { } maxTokens)
        {
            request["max_output_tokens"] = maxTokens;
        }
        if (Text(chat["reasoning_effort"]) is { } effort)
        {
            request["reasoning"] = new JsonObject { ["effort"] = effort };
        }
        if (chat["response_format"] is JsonObject format && Text(format["type"]) is "json_schema" or "json_object")
        {
            var textFormat = new JsonObject { ["type"] = Text(format["type"]) };
            foreach (var (name, value) in format["json_schema"] as JsonObject ?? [])
            {
                textFormat[name] = value?.DeepClone();
            }
            request["text"] = new JsonObject { ["format"] = textFormat };
        }
        foreach (var field in (string[])["temperature", "top_p", "stream", "parallel_tool_calls", "user"])
        {
            if (chat[field] is { } value)
            {
                request[field] = value.DeepClone();
            }
        }
        request["store"] = false;
        return request;
    }

    private static JsonNode UserContent(JsonNode? content)
    {
        if (Text(content) is { } text)
        {
            return text;
        }
        var parts = new JsonArray();
        foreach (var part in content as JsonArray ?? throw new InvalidLlmRequestException("A user message's content must be a string or an array of parts."))
        {
            parts.Add(Text(part?["type"]) switch
            {
                "text" => new JsonObject { ["type"] = "input_text", ["text"] = Text(part!["text"]) ?? "" },
                "image_url" => new JsonObject
                {
                    ["type"] = "input_image",
                    ["image_url"] = Text(part!["image_url"]?["url"]) ?? throw new InvalidLlmRequestException("An image_url part needs a url."),
                    ["detail"] = Text(part["image_url"]?["detail"]) ?? "auto",
                },
                var other => throw new InvalidLlmRequestException($"A content part of type '{other}' has no equivalent in the openai-responses format."),
            });
        }
        return parts;
    }

    private static JsonNode Tool(JsonNode? tool)
    {
        if (Text(tool?["type"]) != "function" || tool!["function"] is not JsonObject function)
        {
            throw new InvalidLlmRequestException("Only function tools can be sent to an openai-responses connector.");
        }
        var result = new JsonObject { ["type"] = "function" };
        foreach (var field in (string[])["name", "description", "parameters", "strict"])
        {
            if (function[field] is { } value)
            {
                result[field] = value.DeepClone();
            }
        }
        return result;
    }

    public AnswerTranslator Answers(TranslationContext context) => new ToChat(context);

    /// <summary>Responses answers (a response object, typed events) as chat completions.</summary>
    private sealed class ToChat(TranslationContext context) : AnswerTranslator
    {
        private string _id = TranslationContext.NewId("chatcmpl-");
        private string _model = context.Model;
        private bool _ended;

        /// <summary>A streamed function call: its chat tool index, and whether its arguments came in pieces.</summary>
        private sealed class Call(int index)
        {
            public int Index { get; } = index;
            public bool Streamed { get; set; }
        }

        private readonly Dictionary<string, Call> _calls = new(StringComparer.Ordinal);

        public override JsonObject Answer(JsonObject answer)
        {
            string? text = null;
            var calls = new JsonArray();
            foreach (var item in answer["output"] as JsonArray ?? [])
            {
                switch (Text(item?["type"]))
                {
                    case "message":
                        text = (text ?? "") + ResponsesNames.ItemText(item!["content"]);
                        break;
                    case "function_call":
                        calls.Add(ToolCall(Text(item!["call_id"]) ?? "", Text(item["name"]) ?? "", Text(item["arguments"]) ?? "{}"));
                        break;
                }
            }
            var chat = ChatShapes.Answer(Text(answer["id"]) ?? _id, Text(answer["model"]) ?? _model, context.Created, text, calls,
                ResponsesNames.FinishReason(answer, calls.Count > 0), null, null);
            if (answer["usage"] is JsonObject usage)
            {
                chat["usage"] = ResponsesNames.ToChatUsage(usage);
            }
            return chat;
        }

        public override JsonObject Error(int status, JsonObject? error)
        {
            var (message, type, code) = ChatErrors.Read(status, error);
            return ChatErrors.Of(message, type, code);
        }

        public override void Event(SseEvent input, List<SseEvent> output)
        {
            if (_ended || input.Object() is not { } data)
            {
                return;
            }
            switch (Text(data["type"]) ?? input.Name)
            {
                case "response.created":
                    _id = Text(data["response"]?["id"]) ?? _id;
                    _model = Text(data["response"]?["model"]) ?? _model;
                    Emit(output, new JsonObject { ["role"] = "assistant", ["content"] = "" });
                    break;
                case "response.output_item.added" when data["item"] is JsonObject { } item && Text(item["type"]) == "function_call":
                    var call = new Call(_calls.Count);
                    _calls[Text(item["id"]) ?? $"#{Int(data["output_index"])}"] = call;
                    var started = ToolCall(Text(item["call_id"]) ?? "", Text(item["name"]) ?? "", "");
                    started["index"] = call.Index;
                    Emit(output, new JsonObject { ["tool_calls"] = new JsonArray(started) });
                    break;
                case "response.output_text.delta":
                    Emit(output, new JsonObject { ["content"] = Text(data["delta"]) ?? "" });
                    break;
                case "response.function_call_arguments.delta" when CallOf(data) is { } streaming:
                    streaming.Streamed = true;
                    Arguments(output, streaming, Text(data["delta"]) ?? "");
                    break;
                case "response.function_call_arguments.done" when CallOf(data) is { Streamed: false } whole:
                    // A provider that sends the arguments only at the end: they travel as one piece.
                    whole.Streamed = true;
                    Arguments(output, whole, Text(data["arguments"]) ?? "");
                    break;
                case "response.completed" or "response.incomplete" when data["response"] is JsonObject response:
                    _ended = true;
                    output.Add(SseEvent.Json(null, Chunk(_id, _model, context.Created, null, ResponsesNames.FinishReason(response, _calls.Count > 0))));
                    if (response["usage"] is JsonObject usage)
                    {
                        var chunk = UsageChunk(_id, _model, context.Created, 0, 0);
                        chunk["usage"] = ResponsesNames.ToChatUsage(usage);
                        output.Add(SseEvent.Json(null, chunk));
                    }
                    output.Add(new SseEvent(null, SseEvent.Done));
                    break;
                case "response.failed":
                    _ended = true;
                    var failure = data["response"]?["error"];
                    output.Add(SseEvent.Json(null, ChatErrors.Of(Text(failure?["message"]) ?? "The provider's response failed.", "api_error", Text(failure?["code"]))));
                    break;
                case "error":
                    _ended = true;
                    output.Add(SseEvent.Json(null, ChatErrors.Of(Text(data["message"]) ?? "The provider's stream failed.", "api_error", Text(data["code"]))));
                    break;
            }
        }

        private Call? CallOf(JsonObject data) =>
            _calls.GetValueOrDefault(Text(data["item_id"]) ?? $"#{Int(data["output_index"])}");

        private void Arguments(List<SseEvent> output, Call call, string arguments)
        {
            if (arguments.Length > 0)
            {
                Emit(output, new JsonObject
                {
                    ["tool_calls"] = new JsonArray(new JsonObject { ["index"] = call.Index, ["function"] = new JsonObject { ["arguments"] = arguments } }),
                });
            }
        }

        private void Emit(List<SseEvent> output, JsonObject delta) => output.Add(SseEvent.Json(null, Chunk(_id, _model, context.Created, delta)));
    }
}

/// <summary>
/// OpenAI Responses inbound (<c>POST /v1/responses</c>): input as text or items (messages, function calls and their
/// outputs), instructions, function tools; answers as a response object or its typed events; stored responses
/// (<see cref="StoredResponses"/>) continued by <c>previous_response_id</c>. Errors in OpenAI's shape.
/// </summary>
public sealed class ResponsesApi : IInboundApi
{
    /// <summary>Where one call's Responses state waits for its answer (<see cref="HttpContext.Items"/>).</summary>
    private static readonly object CallKey = new();

    /// <summary>A call's request as the answer echoes it, the conversation it continues (without instructions), and whether it is kept.</summary>
    private sealed record ResponsesCall(JsonObject Echo, JsonArray Conversation, bool Store);

    public string Label => "responses";

    public ErrorShape Errors => ErrorShape.OpenAi;

    public async ValueTask<JsonObject> ReadRequestAsync(JsonObject body, HttpContext http)
    {
        foreach (var field in (string[])["conversation", "prompt"])
        {
            Refuse(body, field, "gateway's common (chat completions)");
        }
        if (Bool(body["background"]) == true)
        {
            throw new InvalidLlmRequestException("background responses are not served by the gateway; remove 'background'.");
        }
        var store = Bool(body["store"]) ?? true;
        var conversation = new JsonArray();
        var previousId = Text(body["previous_response_id"]);
        if (previousId is not null)
        {
            // Only the caller's tenant's responses continue: another tenant's id is as unknown as one that never was.
            var previous = await http.RequestServices.GetRequiredService<StoredResponses>().GetAsync(ApiCaller.From(http).Tenant, previousId, http.RequestAborted)
                           ?? throw new InvalidLlmRequestException($"Previous response with id '{previousId}' not found.");
            conversation = previous.ConversationMessages();
        }
        switch (body["input"])
        {
            case JsonValue value when Text(value) is { } text:
                conversation.Add(new JsonObject { ["role"] = "user", ["content"] = text });
                break;
            case JsonArray items:
                AddItems(conversation, items);
                break;
            case null:
                break;
            default:
                throw new InvalidLlmRequestException("input must be a string or an array of items.");
        }
        var chat = new JsonObject();
        if (body["model"] is { } model)
        {
            chat["model"] = model.DeepClone();
        }
        var messages = new JsonArray();
        if (body["instructions"] is { } instructions && Text(instructions) is not { Length: 0 })
        {
            // Instructions apply to this response only: they lead the call but are not kept in the conversation.
            messages.Add(new JsonObject { ["role"] = "system", ["content"] = Text(instructions) ?? throw new InvalidLlmRequestException("instructions must be a string.") });
        }
        foreach (var message in conversation)
        {
            messages.Add(message!.DeepClone());
        }
        chat["messages"] = messages;
        if (Int(body["max_output_tokens"]) is { } maxTokens)
        {
            chat["max_tokens"] = maxTokens;
        }
        if (Text(body["reasoning"]?["effort"]) is { } effort)
        {
            chat["reasoning_effort"] = effort switch
            {
                "none" or "minimal" or "low" => "low",
                "medium" => "medium",
                _ => "high",
            };
        }
        if (body["tools"] is JsonArray { Count: > 0 } tools)
        {
            chat["tools"] = new JsonArray([.. tools.Select(Tool)]);
        }
        if (body["tool_choice"] is { } choice)
        {
            chat["tool_choice"] = ToolChoice(choice);
        }
        if (body["text"]?["format"] is JsonObject format && ResponseFormat(format) is { } responseFormat)
        {
            chat["response_format"] = responseFormat;
        }
        foreach (var field in (string[])["temperature", "top_p", "stream", "parallel_tool_calls", "user"])
        {
            if (body[field] is { } value)
            {
                chat[field] = value.DeepClone();
            }
        }
        http.Items[CallKey] = new ResponsesCall(Echo(body, store, previousId), conversation, store);
        return chat;
    }

    /// <summary>The request fields a response object carries back, with the API's defaults for those not sent.</summary>
    private static JsonObject Echo(JsonObject body, bool store, string? previousId) => new()
    {
        ["instructions"] = body["instructions"]?.DeepClone(),
        ["max_output_tokens"] = body["max_output_tokens"]?.DeepClone(),
        ["parallel_tool_calls"] = Bool(body["parallel_tool_calls"]) ?? true,
        ["previous_response_id"] = previousId,
        ["reasoning"] = new JsonObject { ["effort"] = body["reasoning"]?["effort"]?.DeepClone(), ["summary"] = null },
        ["store"] = store,
        ["temperature"] = body["temperature"]?.DeepClone() ?? 1.0,
        ["text"] = body["text"] is JsonObject text ? text.DeepClone() : new JsonObject { ["format"] = new JsonObject { ["type"] = "text" } },
        ["tool_choice"] = body["tool_choice"]?.DeepClone() ?? "auto",
        ["tools"] = body["tools"] is JsonArray tools ? tools.DeepClone() : new JsonArray(),
        ["top_p"] = body["top_p"]?.DeepClone() ?? 1.0,
        ["truncation"] = "disabled",
        ["user"] = body["user"]?.DeepClone(),
        ["metadata"] = body["metadata"] is JsonObject metadata ? metadata.DeepClone() : new JsonObject(),
    };

    private static bool? Bool(JsonNode? node) => node is JsonValue v && v.TryGetValue<bool>(out var b) ? b : null;

    /// <summary>Input items as chat messages; consecutive function calls become one assistant turn, as chat completions write them.</summary>
    private static void AddItems(JsonArray messages, JsonArray items)
    {
        foreach (var node in items)
        {
            var item = node as JsonObject ?? throw new InvalidLlmRequestException("input: each item must be an object.");
            switch (Text(item["type"]) ?? (item["role"] is not null ? "message" : null))
            {
                case "message":
                    messages.Add(Message(item));
                    break;
                case "function_call":
                    var call = ToolCall(Text(item["call_id"]) ?? throw new InvalidLlmRequestException("input: a function_call needs call_id."),
                        Text(item["name"]) ?? throw new InvalidLlmRequestException("input: a function_call needs a name."), Text(item["arguments"]) ?? "{}");
                    if (messages.LastOrDefault() is JsonObject last && Text(last["role"]) == "assistant")
                    {
                        if (last["tool_calls"] is not JsonArray calls)
                        {
                            last["tool_calls"] = calls = [];
                        }
                        calls.Add(call);
                    }
                    else
                    {
                        messages.Add(new JsonObject { ["role"] = "assistant", ["content"] = null, ["tool_calls"] = new JsonArray(call) });
                    }
                    break;
                case "function_call_output":
                    messages.Add(new JsonObject
                    {
                        ["role"] = "tool",
                        ["tool_call_id"] = Text(item["call_id"]) ?? throw new InvalidLlmRequestException("input: a function_call_output needs call_id."),
                        ["content"] = ResponsesNames.ItemText(item["output"]),
                    });
                    break;
                case "reasoning":
                    break; // the model's own notes: not part of what the next turn needs
                case var other:
                    throw new InvalidLlmRequestException($"input: an item of type '{other}' is not translated by the gateway.");
            }
        }
    }

    private static JsonObject Message(JsonObject item)
    {
        var role = Text(item["role"]);
        switch (role)
        {
            case "user":
                return new JsonObject { ["role"] = "user", ["content"] = Text(item["content"]) is { } text ? text : UserParts(item["content"]) };
            case "assistant" or "system" or "developer":
                if (item["content"] is not (JsonValue or JsonArray))
                {
                    throw new InvalidLlmRequestException($"input: a {role} message's content must be a string or an array of parts.");
                }
                var content = ResponsesNames.ItemText(item["content"]);
                return new JsonObject { ["role"] = role, ["content"] = role == "assistant" && content.Length == 0 ? null : content };
            default:
                throw new InvalidLlmRequestException("input: a message's role must be user, assistant, system or developer.");
        }
    }

    private static JsonArray UserParts(JsonNode? content)
    {
        var parts = new JsonArray();
        foreach (var node in content as JsonArray ?? throw new InvalidLlmRequestException("input: a user message's content must be a string or an array of parts."))
        {
            var part = node as JsonObject ?? throw new InvalidLlmRequestException("input: each content part must be an object.");
            switch (Text(part["type"]))
            {
                case "input_text" or "output_text" or "text":
                    parts.Add(new JsonObject { ["type"] = "text", ["text"] = Text(part["text"]) ?? "" });
                    break;
                case "input_image":
                    var image = new JsonObject
                    {
                        ["url"] = Text(part["image_url"]) ?? throw new InvalidLlmRequestException("input: an input_image is taken by image_url (a URL or a data URL), not by file_id."),
                    };
                    if (Text(part["detail"]) is { } detail)
                    {
                        image["detail"] = detail;
                    }
                    parts.Add(new JsonObject { ["type"] = "image_url", ["image_url"] = image });
                    break;
                case var other:
                    throw new InvalidLlmRequestException($"input: a content part of type '{other}' is not translated by the gateway.");
            }
        }
        return parts;
    }

    private static JsonNode Tool(JsonNode? tool)
    {
        if (tool is not JsonObject definition)
        {
            throw new InvalidLlmRequestException("tools: each tool must be an object.");
        }
        if (Text(definition["type"]) is var type && type != "function")
        {
            throw new InvalidLlmRequestException($"tools: a tool of type '{type}' runs on OpenAI's servers and is not served by the gateway; only function tools are.");
        }
        var function = new JsonObject { ["name"] = Text(definition["name"]) ?? throw new InvalidLlmRequestException("tools: a function tool needs a name.") };
        foreach (var field in (string[])["description", "parameters", "strict"])
        {
            if (definition[field] is { } value)
            {
                function[field] = value.DeepClone();
            }
        }
        return new JsonObject { ["type"] = "function", ["function"] = function };
    }

    private static JsonNode ToolChoice(JsonNode choice)
    {
        if (Text(choice) is { } mode)
        {
            return mode is "auto" or "none" or "required" ? mode : throw new InvalidLlmRequestException("tool_choice must be auto, none, required or a function.");
        }
        if (Text(choice["type"]) == "function" && Text(choice["name"]) is { } name)
        {
            return new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = name } };
        }
        throw new InvalidLlmRequestException($"tool_choice of type '{Text(choice["type"])}' is not served by the gateway; choose auto, none, required or a function.");
    }

    private static JsonObject? ResponseFormat(JsonObject format)
    {
        switch (Text(format["type"]))
        {
            case "json_schema":
                var schema = new JsonObject();
                foreach (var field in (string[])["name", "description", "schema", "strict"])
                {
                    if (format[field] is { } value)
                    {
                        schema[field] = value.DeepClone();
                    }
                }
                return new JsonObject { ["type"] = "json_schema", ["json_schema"] = schema };
            case "json_object":
                return new JsonObject { ["type"] = "json_object" };
            default:
                return null;
        }
    }

    public AnswerTranslator Answers(TranslationContext context, HttpContext http) =>
        new ToResponses(context, http.Items[CallKey] is ResponsesCall call ? call.Echo : new JsonObject());

    public async ValueTask AfterAsync(HttpContext http, JsonObject chatRequest, AnswerTranslator? answers, bool succeeded)
    {
        if (!succeeded || http.Items[CallKey] is not ResponsesCall { Store: true } call || answers is not ToResponses { Final: { } response, Assistant: { } assistant })
        {
            return;
        }
        var conversation = (JsonArray)call.Conversation.DeepClone();
        conversation.Add(assistant);
        await http.RequestServices.GetRequiredService<StoredResponses>().SaveAsync(ApiCaller.From(http).Tenant, response, conversation);
    }

    /// <summary>Chat completion answers (JSON and chunks) as a Responses response object and its typed events.</summary>
    private sealed class ToResponses(TranslationContext context, JsonObject echo) : AnswerTranslator
    {
        private readonly string _id = TranslationContext.NewId("resp_");
        private string _model = context.Model;
        private int _sequence;
        private bool _started, _finished;
        private readonly List<JsonObject?> _items = [];
        private int? _textItem;
        private readonly StringBuilder _text = new();
        private readonly Dictionary<int, ToolItem> _toolItems = [];
        private string? _finishReason;
        private JsonObject? _usage;

        /// <summary>A streamed function call: its output item, its arguments so far, and the same call as chat writes it.</summary>
        private sealed record ToolItem(int Item, StringBuilder Arguments, JsonObject Call);

        /// <summary>The finished response object (completed or incomplete), once the answer is whole.</summary>
        public JsonObject? Final { get; private set; }

        /// <summary>The answer as a chat assistant message, for the conversation a stored response continues.</summary>
        public JsonObject? Assistant { get; private set; }

        private JsonObject Response(string status, JsonArray output, JsonObject? usage, JsonObject? error = null)
        {
            var response = new JsonObject
            {
                ["id"] = _id,
                ["object"] = "response",
                ["created_at"] = context.Created,
                ["status"] = status,
                ["background"] = false,
                ["error"] = error,
                ["incomplete_details"] = status == "incomplete" && ResponsesNames.IncompleteReason(_finishReason) is { } reason ? new JsonObject { ["reason"] = reason } : null,
                ["model"] = _model,
                ["output"] = output,
            };
            foreach (var (name, value) in echo)
            {
                response[name] = value?.DeepClone();
            }
            response["usage"] = usage?.DeepClone();
            return response;
        }

        private string Status => ResponsesNames.IncompleteReason(_finishReason) is null ? "completed" : "incomplete";

        public override JsonObject Answer(JsonObject answer)
        {
            var (text, calls, finish, _, _) = ReadAnswer(answer);
            _finishReason = finish;
            _model = Text(answer["model"]) ?? _model;
            var output = new JsonArray();
            if (!string.IsNullOrEmpty(text))
            {
                output.Add(ResponsesNames.MessageItem(TranslationContext.NewId("msg_"), "completed", text));
            }
            foreach (var call in calls)
            {
                output.Add(ResponsesNames.FunctionCallItem(TranslationContext.NewId("fc_"), "completed", Text(call?["id"]) ?? "", Text(call?["function"]?["name"]) ?? "",
                    Text(call?["function"]?["arguments"]) ?? "{}"));
            }
            Final = Response(Status, output, ResponsesNames.FromChatUsage(answer["usage"] as JsonObject));
            Assistant = AssistantMessage(text, calls.Count > 0 ? (JsonArray)calls.DeepClone() : null);
            return Final;
        }

        private static JsonObject AssistantMessage(string? text, JsonArray? calls)
        {
            var message = new JsonObject { ["role"] = "assistant", ["content"] = string.IsNullOrEmpty(text) ? null : text };
            if (calls is { Count: > 0 })
            {
                message["tool_calls"] = calls;
            }
            return message;
        }

        public override JsonObject Error(int status, JsonObject? error)
        {
            var (message, type, code) = ChatErrors.Read(status, error);
            return ChatErrors.Of(message, type, code);
        }

        public override void Event(SseEvent input, List<SseEvent> output)
        {
            if (_finished)
            {
                return;
            }
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
                var (message, _, code) = ChatErrors.Read(500, error);
                Fail(output, code ?? "server_error", message);
                return;
            }
            if (chunk["usage"] is JsonObject usage)
            {
                _usage = ResponsesNames.FromChatUsage(usage);
            }
            if (!_started)
            {
                Start(output, Text(chunk["model"]));
            }
            if (parts.Content is { Length: > 0 } text)
            {
                var item = OpenText(output);
                _text.Append(text);
                Emit(output, "response.output_text.delta", new JsonObject
                {
                    ["item_id"] = ItemId(item), ["output_index"] = item, ["content_index"] = 0, ["delta"] = text, ["logprobs"] = new JsonArray(),
                });
            }
            foreach (var call in parts.ToolCalls ?? [])
            {
                var tool = Int(call?["index"]) ?? 0;
                if (Text(call?["id"]) is { } id && !_toolItems.ContainsKey(tool))
                {
                    CloseText(output);
                    var name = Text(call!["function"]?["name"]) ?? "";
                    var item = _items.Count;
                    _items.Add(ResponsesNames.FunctionCallItem(TranslationContext.NewId("fc_"), "in_progress", id, name, ""));
                    _toolItems[tool] = new ToolItem(item, new StringBuilder(), ToolCall(id, name, ""));
                    Emit(output, "response.output_item.added", new JsonObject { ["output_index"] = item, ["item"] = _items[item]!.DeepClone() });
                }
                if (Text(call?["function"]?["arguments"]) is { Length: > 0 } arguments && _toolItems.TryGetValue(tool, out var open))
                {
                    open.Arguments.Append(arguments);
                    Emit(output, "response.function_call_arguments.delta", new JsonObject
                    {
                        ["item_id"] = ItemId(open.Item), ["output_index"] = open.Item, ["delta"] = arguments,
                    });
                }
            }
            if (parts.FinishReason is { } finish)
            {
                _finishReason = finish;
                CloseAll(output);
            }
        }

        public override void End(List<SseEvent> output)
        {
            if (_started && !_finished)
            {
                // Cut before the provider finished: say so, rather than a completion that reads as whole.
                Fail(output, "server_error", "The provider's stream ended before its answer was complete.");
            }
        }

        private string ItemId(int item) => Text(_items[item]!["id"])!;

        private void Emit(List<SseEvent> output, string type, JsonObject fields)
        {
            var data = new JsonObject { ["type"] = type, ["sequence_number"] = _sequence++ };
            foreach (var (name, value) in fields.ToList())
            {
                fields.Remove(name);
                data[name] = value;
            }
            output.Add(SseEvent.Json(type, data));
        }

        private void Start(List<SseEvent> output, string? model)
        {
            _started = true;
            _model = model ?? _model;
            Emit(output, "response.created", new JsonObject { ["response"] = Response("in_progress", [], null) });
            Emit(output, "response.in_progress", new JsonObject { ["response"] = Response("in_progress", [], null) });
        }

        private int OpenText(List<SseEvent> output)
        {
            if (_textItem is { } open)
            {
                return open;
            }
            var item = _items.Count;
            _items.Add(ResponsesNames.MessageItem(TranslationContext.NewId("msg_"), "in_progress", null));
            _textItem = item;
            _text.Clear();
            Emit(output, "response.output_item.added", new JsonObject { ["output_index"] = item, ["item"] = _items[item]!.DeepClone() });
            Emit(output, "response.content_part.added", new JsonObject
            {
                ["item_id"] = ItemId(item), ["output_index"] = item, ["content_index"] = 0, ["part"] = ResponsesNames.OutputText(""),
            });
            return item;
        }

        private void CloseText(List<SseEvent> output)
        {
            if (_textItem is not { } item)
            {
                return;
            }
            _textItem = null;
            var text = _text.ToString();
            Emit(output, "response.output_text.done", new JsonObject
            {
                ["item_id"] = ItemId(item), ["output_index"] = item, ["content_index"] = 0, ["text"] = text, ["logprobs"] = new JsonArray(),
            });
            Emit(output, "response.content_part.done", new JsonObject
            {
                ["item_id"] = ItemId(item), ["output_index"] = item, ["content_index"] = 0, ["part"] = ResponsesNames.OutputText(text),
            });
            _items[item] = ResponsesNames.MessageItem(ItemId(item), "completed", text);
            Emit(output, "response.output_item.done", new JsonObject { ["output_index"] = item, ["item"] = _items[item]!.DeepClone() });
        }

        private void CloseAll(List<SseEvent> output)
        {
            CloseText(output);
            foreach (var (item, arguments, call) in _toolItems.Values.OrderBy(t => t.Item))
            {
                var open = _items[item]!;
                if (Text(open["status"]) != "in_progress")
                {
                    continue;
                }
                var name = Text(open["name"]) ?? "";
                Emit(output, "response.function_call_arguments.done", new JsonObject
                {
                    ["item_id"] = ItemId(item), ["output_index"] = item, ["name"] = name, ["arguments"] = arguments.ToString(),
                });
                _items[item] = ResponsesNames.FunctionCallItem(ItemId(item), "completed", Text(open["call_id"]) ?? "", name, arguments.ToString());
                call["function"]!["arguments"] = arguments.ToString();
                Emit(output, "response.output_item.done", new JsonObject { ["output_index"] = item, ["item"] = _items[item]!.DeepClone() });
            }
        }

        private JsonArray Output() => new([.. _items.Select(i => i?.DeepClone())]);

        private void Finish(List<SseEvent> output)
        {
            if (!_started)
            {
                Start(output, null);
            }
            CloseAll(output);
            _finished = true;
            var status = Status;
            Final = Response(status, Output(), _usage);
            var text = string.Concat(_items.Where(i => Text(i?["type"]) == "message").Select(i => ResponsesNames.ItemText(i!["content"])));
            Assistant = AssistantMessage(text, new JsonArray([.. _toolItems.Values.OrderBy(t => t.Item).Select(t => t.Call.DeepClone())]));
            Emit(output, status == "completed" ? "response.completed" : "response.incomplete", new JsonObject { ["response"] = Final.DeepClone() });
        }

        private void Fail(List<SseEvent> output, string code, string message)
        {
            if (!_started)
            {
                Start(output, null);
            }
            _finished = true;
            Emit(output, "response.failed", new JsonObject
            {
                ["response"] = Response("failed", Output(), _usage, new JsonObject { ["code"] = code, ["message"] = message }),
            });
        }
    }
}
