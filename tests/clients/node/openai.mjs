// The openai npm package in a tool loop: node openai.mjs <baseURL> <city> <mode>
// mode: chat (JSON), chat-stream, responses (JSON), responses-stream.
// Prints {"answer": ..., "lookedUp": [...]} as one JSON line.
import OpenAI from "openai";

const [baseURL, city, mode] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: process.env.OPENAI_API_KEY, maxRetries: 0 });
const model = "gpt-4o-mini";
const lookedUp = [];

function getWeather(args) {
  const { city } = JSON.parse(args);
  lookedUp.push(city);
  return `Sunny in ${city}, 22 C`;
}

const parameters = {
  type: "object",
  properties: { city: { type: "string" } },
  required: ["city"],
};
const description = "The weather in a city.";
const prompt = `What is the weather in ${city}?`;

async function chat(streamed) {
  const tools = [{ type: "function", function: { name: "get_weather", description, parameters } }];
  const messages = [{ role: "user", content: prompt }];
  const ask = async () => {
    if (!streamed) {
      return (await client.chat.completions.create({ model, messages, tools })).choices[0].message;
    }
    const stream = client.chat.completions.stream({ model, messages, tools });
    return (await stream.finalChatCompletion()).choices[0].message;
  };
  const first = await ask();
  messages.push(first);
  for (const call of first.tool_calls ?? []) {
    messages.push({ role: "tool", tool_call_id: call.id, content: getWeather(call.function.arguments) });
  }
  return (await ask()).content;
}

async function responses(streamed) {
  const tools = [{ type: "function", name: "get_weather", description, parameters, strict: false }];
  const input = [{ role: "user", content: prompt }];
  const ask = async () => {
    if (!streamed) {
      return client.responses.create({ model, input, tools });
    }
    const stream = client.responses.stream({ model, input, tools });
    return stream.finalResponse();
  };
  const first = await ask();
  for (const item of first.output) {
    input.push(item);
    if (item.type === "function_call") {
      input.push({ type: "function_call_output", call_id: item.call_id, output: getWeather(item.arguments) });
    }
  }
  return (await ask()).output_text;
}

const answer = await {
  chat: () => chat(false),
  "chat-stream": () => chat(true),
  responses: () => responses(false),
  "responses-stream": () => responses(true),
}[mode]();
console.log(JSON.stringify({ answer, lookedUp }));
