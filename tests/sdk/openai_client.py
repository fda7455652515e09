"""Drives the gateway with the official OpenAI Python SDK (run by tests/tests/openai_sdk.rs).

Usage: openai_client.py BASE_URL API_KEY MODEL
Prints one JSON line with what the SDK saw; the Rust test asserts on it.
"""
import json
import sys

import openai

base_url, api_key, model = sys.argv[1:4]
client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0)
tools = [{"type": "function", "function": {"name": "weather", "description": "Weather by city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]

result = {}
completion = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
result["text"] = completion.choices[0].message.content
result["finish"] = completion.choices[0].finish_reason
result["model"] = completion.model
result["total_tokens"] = completion.usage.total_tokens if completion.usage else None

with_tools = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "weather?"}], tools=tools)
calls = with_tools.choices[0].message.tool_calls or []
result["tool_calls"] = [[c.function.name, json.loads(c.function.arguments)] for c in calls]
result["tool_finish"] = with_tools.choices[0].finish_reason

stream = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}], stream=True,
                                        stream_options={"include_usage": True})
text, finishes, usage = [], [], None
for chunk in stream:
    if chunk.usage:
        usage = chunk.usage.total_tokens
    for choice in chunk.choices:
        if choice.delta.content:
            text.append(choice.delta.content)
        if choice.finish_reason:
            finishes.append(choice.finish_reason)
result["stream_text"] = "".join(text)
result["stream_finishes"] = finishes
result["stream_usage"] = usage

streamed_tools = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "weather?"}],
                                                tools=tools, stream=True)
args, names = {}, {}
for chunk in streamed_tools:
    for choice in chunk.choices:
        for call in choice.delta.tool_calls or []:
            if call.function and call.function.name:
                names[call.index] = call.function.name
            if call.function and call.function.arguments:
                args[call.index] = args.get(call.index, "") + call.function.arguments
result["stream_tool_calls"] = [[names[i], json.loads(args.get(i, "{}"))] for i in sorted(names)]

try:
    client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    result["unknown_model"] = "no error"
except openai.NotFoundError as e:
    result["unknown_model"] = e.status_code

print(json.dumps(result))
