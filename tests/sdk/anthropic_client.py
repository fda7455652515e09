"""Drives the gateway's Messages door with the official Anthropic Python SDK (run by
tests/tests/sdk_doors.rs).

Usage: anthropic_client.py BASE_URL API_KEY MODEL
The upstream mock is scripted to answer, in order: "Hello!", a `weather` call, "Hello!"
streamed, a `weather` call streamed. Prints one JSON line with what the SDK saw.
"""
import json
import sys

import anthropic

base_url, api_key, model = sys.argv[1:4]
client = anthropic.Anthropic(base_url=base_url, api_key=api_key, max_retries=0)
tools = [{"name": "weather", "description": "Weather by city",
          "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
messages = [{"role": "user", "content": "hi"}]
result = {}

message = client.messages.create(model=model, max_tokens=256, messages=messages)
result["text"] = "".join(b.text for b in message.content if b.type == "text")
result["stop_reason"] = message.stop_reason
result["model"] = message.model
result["usage"] = [message.usage.input_tokens, message.usage.output_tokens]

with_tools = client.messages.create(model=model, max_tokens=256, messages=messages, tools=tools)
result["tool_uses"] = [[b.name, b.input] for b in with_tools.content if b.type == "tool_use"]
result["tool_stop_reason"] = with_tools.stop_reason

with client.messages.stream(model=model, max_tokens=256, messages=messages) as stream:
    result["stream_text"] = "".join(stream.text_stream)
    final = stream.get_final_message()
result["stream_stop_reason"] = final.stop_reason
result["stream_output_tokens"] = final.usage.output_tokens

with client.messages.stream(model=model, max_tokens=256, messages=messages, tools=tools) as stream:
    final = stream.get_final_message()
result["stream_tool_uses"] = [[b.name, b.input] for b in final.content if b.type == "tool_use"]

result["count"] = client.messages.count_tokens(model=model, messages=messages).input_tokens

try:
    client.messages.create(model="no-such-model", max_tokens=16, messages=messages)
    result["unknown_model"] = "no error"
except anthropic.NotFoundError as e:
    result["unknown_model"] = [e.status_code, e.body["error"]["type"]]

try:
    anthropic.Anthropic(base_url=base_url, api_key="wrong", max_retries=0).messages.create(
        model=model, max_tokens=16, messages=messages)
    result["bad_key"] = "no error"
except anthropic.AuthenticationError as e:
    result["bad_key"] = e.status_code

print(json.dumps(result))
