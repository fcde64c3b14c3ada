// The Vercel AI SDK (ai + @ai-sdk/openai) in a tool loop: node ai_sdk.mjs <baseURL> <city> <mode>
// mode: generateText or streamText, on chat completions (-chat) or the Responses API (-responses).
// Prints {"answer": ..., "lookedUp": [...], "steps": n} as one JSON line.
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, stepCountIs, streamText, tool } from "ai";
import { z } from "zod";

const [baseURL, city, mode] = process.argv.slice(2);
const [call, api] = mode.split("-");
const provider = createOpenAI({ baseURL, apiKey: process.env.OPENAI_API_KEY });
const model = api === "chat" ? provider.chat("gpt-4o-mini") : provider.responses("gpt-4o-mini");
const lookedUp = [];
const tools = {
  get_weather: tool({
    description: "The weather in a city.",
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }) => {
      lookedUp.push(city);
      return `Sunny in ${city}, 22 C`;
    },
  }),
};
const request = {
  model,
  tools,
  stopWhen: stepCountIs(3),
  maxRetries: 0,
  prompt: `What is the weather in ${city}?`,
};

let answer;
let steps;
if (call === "generateText") {
  const result = await generateText(request);
  answer = result.text;
  steps = result.steps.length;
} else {
  // streamText hands errors to onError and ends the stream quietly: fail loudly instead.
  let failure;
  const result = streamText({
    ...request,
    onError: ({ error }) => {
      failure = error;
    },
  });
  answer = "";
  for await (const text of result.textStream) {
    answer += text;
  }
  if (failure) {
    throw failure;
  }
  steps = (await result.steps).length;
}
console.log(JSON.stringify({ answer, lookedUp, steps }));
