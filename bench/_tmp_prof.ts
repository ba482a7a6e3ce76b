import { startNatsBench } from "./nats_bench_util.ts";
const bench = await startNatsBench("tcp");
const payload = { token_ids: [1, 2, 3, 4], model: "sample-model", stop_conditions: { max_tokens: 2000 } };
let msgs = 0;
for (let r = 0; r < 30; r++) {
  const t = performance.now();
  let n = 0;
  for await (const c of await bench.client.call(bench.address, payload)) n += c.token_ids.length;
  if (r % 10 === 0) console.log(n, (performance.now() - t).toFixed(2), "ms");
}
await bench.close();
