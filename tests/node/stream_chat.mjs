// OpenAI's Node SDK against the local backend: stream a chat completion from a fine-tuned model, with
// usage, and read a request id and a job. Prints one JSON object for tests/core/backend/test_node_sdk.py.
import OpenAI from "openai";

const [baseURL, model, jobId] = process.argv.slice(2);
const client = new OpenAI({ apiKey: "unused", baseURL, maxRetries: 0 });
const messages = [{ role: "user", content: "Crashes every time, useless" }];

const whole = await client.chat.completions.create({ model, messages });
const stream = await client.chat.completions.create({
  model, messages, stream: true, stream_options: { include_usage: true },
});
const chunks = [];
for await (const chunk of stream) chunks.push(chunk);
const text = chunks.flatMap((c) => c.choices.map((choice) => choice.delta.content ?? "")).join("");
const finish = chunks.flatMap((c) => c.choices.map((choice) => choice.finish_reason)).filter(Boolean);
const { request_id: requestId } = await client.models.list().withResponse();
const job = await client.fineTuning.jobs.retrieve(jobId);
console.log(JSON.stringify({
  whole: whole.choices[0].message.content,
  streamed: text,
  role: chunks[0].choices[0].delta.role,
  finish,
  usage: chunks.at(-1).usage,
  wholeUsage: whole.usage,
  requestId,
  jobStatus: job.status,
}));
