"""Drives the gateway's Responses door with the official OpenAI Python SDK's `responses` API
(run by tests/tests/sdk_doors.rs).

Usage: openai_responses.py BASE_URL API_KEY MODEL
The upstream mock is scripted to answer, in order: "Hello!", a `weather` call, "Hello!"
streamed, a `weather` call streamed. Prints one JSON line with what the SDK saw.
"""
import json
import sys

import openai

base_url, api_key, model = sys.argv[1:4]
client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0)
tools = [{"type": "function", "name": "weather", "description": "Weather by city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
result = {}

response = client.responses.create(model=model, input="hi", store=False)
result["text"] = response.output_text
result["status"] = response.status
result["model"] = response.model
result["usage"] = [response.usage.input_tokens, response.usage.output_tokens]

with_tools = client.responses.create(model=model, input="weather?", tools=tools, store=False)
result["calls"] = [[o.name, json.loads(o.arguments)] for o in with_tools.output if o.type == "function_call"]

events, text, completed = [], [], None
for event in client.responses.create(model=model, input="hi", stream=True, store=False):
    events.append(event.type)
    if event.type == "response.output_text.delta":
        text.append(event.delta)
    if event.type == "response.completed":
        completed = event.response
result["stream_text"] = "".join(text)
result["stream_first"] = events[0]
result["stream_last"] = events[-1]
result["stream_usage"] = completed.usage.total_tokens if completed and completed.usage else None

calls = []
for event in client.responses.create(model=model, input="weather?", tools=tools, stream=True, store=False):
    if event.type == "response.output_item.done" and event.item.type == "function_call":
        calls.append([event.item.name, json.loads(event.item.arguments)])
result["stream_calls"] = calls

try:
    client.responses.create(model="no-such-model", input="hi")
    result["unknown_model"] = "no error"
except openai.NotFoundError as e:
    result["unknown_model"] = e.status_code

print(json.dumps(result))
