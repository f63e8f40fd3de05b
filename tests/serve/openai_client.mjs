// openai_client.mjs -- the official openai npm client against `nanogpt serve`:
// node openai_client.mjs BASE_URL MODEL PROMPT MAX_TOKENS SEED TEMPERATURE TOP_P
// prints two JSON lines: the non-streamed completion's text and finish_reason, then the
// streamed one's (text concatenated over the chunks).
import OpenAI from "openai";
const [base, model, prompt, maxTokens, seed, temperature, topP] = process.argv.slice(2);
const client = new OpenAI({ baseURL: base, apiKey: process.env.NG_API_KEY || "none", timeout: 60000, maxRetries: 0 });
const args = { model, prompt, max_tokens: +maxTokens, seed: +seed, temperature: +temperature, top_p: +topP };
const r = await client.completions.create(args);
console.log(JSON.stringify({ text: r.choices[0].text, finish_reason: r.choices[0].finish_reason, usage: r.usage }));
const stream = await client.completions.create({ ...args, stream: true });
let text = "", finish = null, chunks = 0;
for await (const chunk of stream) {
  chunks++;
  for (const c of chunk.choices) { text += c.text; if (c.finish_reason) finish = c.finish_reason; }
}
console.log(JSON.stringify({ text, finish_reason: finish, chunks }));
