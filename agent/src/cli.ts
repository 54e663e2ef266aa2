#!/usr/bin/env node
import { mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PACKAGE_VERSION, PROTOCOL_VERSION } from '@s4op/shared';
import type { DevicePeak } from '@s4op/shared';
import { Agent, defaultCacheDir, probeRuntimes } from './agent.js';
import { deviceFacts } from './device.js';
import { measurePeakInChild } from './measure/measure.js';
import { PeakCache } from './measure/peak-cache.js';
import { runtimeNames } from './runtimes/registry.js';

// The agent installs on boards with the fewest packages possible, so it parses its flags with
// Node's own util.parseArgs instead of taking a CLI-parser dependency.

const HELP = `s4op-agent ${PACKAGE_VERSION}: runs on the board, measures ONNX candidates for the S4oP host

Usage:
  s4op-agent --host ws://HOST:PORT --token T [--name N] [--tags a,b] [options]
                                    connect to the host and measure the jobs it sends
  s4op-agent info [--json]          print this board's device facts, runtimes and cached device peaks
  s4op-agent peak [--runtime R] [--threads N] [--again] [--json]
                                    show the cached MatMul peak and memory bandwidth, or measure and cache it
  s4op-agent help [info|peak]       show this help, or one command's
  s4op-agent --help | --version

Options:
  --host URL            host to dial (ws:// or wss://)
  --token T             shared token (or set S4OP_TOKEN)
  --name N              name of this agent (default: the hostname)
  --tags a,b            tags the host can select agents by
  --cache-dir D         model cache, agent id and undelivered results (default: ${defaultCacheDir()})
  --cache-max-mb N      bound of the model cache (default 1024)
  --ca FILE             PEM certificate of the host's CA (wss)
  --insecure            accept any host certificate (wss; testing only)
  --disable-runtime R   do not use this runtime (${runtimeNames().join(', ')})
  --serve-port N        serve the deployed model to local applications over HTTP on this port
                        (0 picks a free one; off by default; see /v1/model, /v1/infer, /v1/sessions)
  --serve-bind A        interface of the inference API (default 127.0.0.1: this board only)
  --serve-threads N     intra-op threads of the served model (default 1)
  --runtime R           peak: ${runtimeNames().join(' or ')} (default ${runtimeNames()[0]})
  --threads N           peak: intra-op / WASM threads (default 1)
  --again               peak: measure again even if cached
  --json                print JSON (info, peak)
  -h, --help            show this help
  -v, -V, --version     print the version

Environment:
  S4OP_TOKEN              the token, instead of --token (keeps it out of ps)
  S4OP_SERVE_PORT         the inference API's port, instead of --serve-port
  S4OP_CHILD_NODE         node binary or wrapper for measurement processes (emulated boards)
  S4OP_PROBE_TIMEOUT_MS   how long a runtime probe may take at start (default 180000)
  S4OP_PEAK_TIMEOUT_MS    how long the device-peak measurement may take (default 180000)

Device peak: the first job of an S4oP export for a runtime and thread count also measures the device's
MatMul throughput (256/512/1024 square, GFLOP/s of the best) and memory bandwidth (a large Mul), once,
cached in <cache-dir>/device-peak.json; results then report achieved GFLOP/s and its fraction of that peak.
`;

/** `s4op-agent help info`, `s4op-agent info --help`: one command's usage (the full help has every option). */
const COMMAND_HELP: Record<string, string> = {
  info: `Usage: s4op-agent info [--json] [--cache-dir D]

print this board's device facts (CPU, cores, clocks, memory, OS, temperature, board model), the runtimes that
load here and the device peaks cached in the cache dir

Options:
  --json                print JSON
  --cache-dir D         where the device peaks are cached (default: ${defaultCacheDir()})
  -h, --help            show this help
`,
  peak: `Usage: s4op-agent peak [--runtime R] [--threads N] [--again] [--json] [--cache-dir D]

show the cached MatMul peak and memory bandwidth of a runtime and thread count, or measure and cache it

Options:
  --runtime R           onnxruntime-node (default) or onnxruntime-web
  --threads N           intra-op / WASM threads (default 1)
  --again               measure again even if cached
  --json                print JSON
  --cache-dir D         where the device peaks are cached (default: ${defaultCacheDir()})
  -h, --help            show this help
`,
};

const LABEL = /^[A-Za-z0-9._-]{1,64}$/;

const describePeak = (p: DevicePeak) =>
  `device peak ${p.runtime} ${p.runtime_version}, ${p.threads} thread${p.threads === 1 ? '' : 's'}: MatMul ${p.matmul_gflops} GFLOP/s (${Object.entries(
    p.matmul_by_size,
  )
    .map(([n, g]) => `${n}: ${g}`)
    .join(', ')}), memory ${p.bandwidth_gbs} GB/s (measured ${p.measured_at})`;

async function info(json: boolean, cacheDir: string): Promise<number> {
  const [device, runtimes, peaks] = await Promise.all([
    deviceFacts(),
    probeRuntimes(),
    new PeakCache(cacheDir, (l) => process.stderr.write(`s4op-agent: ${l}\n`)).list(),
  ]);
  const facts = { version: PACKAGE_VERSION, protocol: PROTOCOL_VERSION, device, runtimes, device_peaks: peaks };
  if (json) {
    process.stdout.write(`${JSON.stringify(facts, null, 2)}\n`);
    return 0;
  }
  const d = device;
  process.stdout.write(
    [
      `s4op-agent ${facts.version} (protocol ${facts.protocol}) on ${d.hostname}`,
      `cpu: ${d.cpu_model}, ${d.cores} cores, ${d.cpu_max_mhz ?? '?'} MHz max`,
      `memory: ${d.memory_total_mb} MB, os: ${d.os} (${d.arch})`,
      `temperature: ${d.temperature_c ?? 'not readable'}${d.temperature_c === null ? '' : ' °C'}`,
      `board: ${d.board_model ?? 'not a known board'}`,
      ...runtimes.map((r) => `runtime ${r.name}: ${r.available ? r.version : `unavailable (${r.reason})`}`),
      ...(peaks.length
        ? peaks.map(describePeak)
        : [`device peak: none cached in ${cacheDir} yet (s4op-agent peak, or the first job of an S4oP export)`]),
    ].join('\n') + '\n',
  );
  return 0;
}

async function peak(o: {
  runtime?: string;
  threads?: string;
  again: boolean;
  json: boolean;
  cacheDir: string;
}): Promise<number> {
  const runtime = o.runtime ?? runtimeNames()[0]!;
  if (!runtimeNames().includes(runtime))
    throw new Error(`--runtime takes ${runtimeNames().join(' or ')}, got "${runtime}"`);
  const threads = Number(o.threads ?? 1);
  if (!Number.isInteger(threads) || threads < 1 || threads > 256)
    throw new Error(`--threads must be an integer in 1–256, got "${o.threads}"`);
  const log = (l: string) => process.stderr.write(`s4op-agent: ${l}\n`);
  const cache = new PeakCache(o.cacheDir, log);
  const probe = (await probeRuntimes()).find((r) => r.name === runtime)!;
  if (!probe.available) throw new Error(`${runtime} is not available here: ${probe.reason}`);
  let result: DevicePeak;
  if (o.again) {
    result = await measurePeakInChild(runtime, threads);
    await cache.put(result);
  } else {
    const cached = await cache.find(runtime, probe.version!, threads);
    if (cached?.background_load?.busy)
      log('the cached peak was measured while the machine was busy: --again measures it anew');
    result =
      cached ?? (await cache.obtain(runtime, probe.version!, threads, (rt, t) => measurePeakInChild(rt, t))).peak;
  }
  process.stdout.write(o.json ? `${JSON.stringify(result, null, 2)}\n` : `${describePeak(result)}\n`);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    // -V: the host's version flag before both took -v.
    args: argv.map((a) => (a === '-V' ? '--version' : a)),
    allowPositionals: true,
    options: {
      host: { type: 'string' },
      token: { type: 'string' },
      name: { type: 'string' },
      tags: { type: 'string' },
      'cache-dir': { type: 'string' },
      'cache-max-mb': { type: 'string' },
      ca: { type: 'string' },
      insecure: { type: 'boolean', default: false },
      'disable-runtime': { type: 'string', multiple: true },
      'serve-port': { type: 'string' },
      'serve-bind': { type: 'string' },
      'serve-threads': { type: 'string' },
      json: { type: 'boolean', default: false },
      runtime: { type: 'string' },
      threads: { type: 'string' },
      again: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      version: { type: 'boolean', short: 'v', default: false },
    },
  });
  const [command] = positionals;
  if (command === 'help' || values.help) {
    // Like the host's CLI: `help`, `help info`, `info --help`.
    const topic = command === 'help' ? positionals[1] : command;
    if (topic === undefined) process.stdout.write(HELP);
    else if (Object.prototype.hasOwnProperty.call(COMMAND_HELP, topic)) process.stdout.write(COMMAND_HELP[topic]!);
    else {
      process.stderr.write(`s4op-agent: unknown command "${topic}" (commands: info, peak, help)\n\n${HELP}`);
      return 2;
    }
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${PACKAGE_VERSION}\n`);
    return 0;
  }
  const cacheDir = path.resolve(values['cache-dir'] ?? defaultCacheDir());
  if (command === 'info') return info(values.json, cacheDir);
  if (command === 'peak')
    return peak({ runtime: values.runtime, threads: values.threads, again: values.again, json: values.json, cacheDir });
  if (command !== undefined) {
    process.stderr.write(`s4op-agent: unknown command "${command}"\n\n${HELP}`);
    return 2;
  }
  if (!values.host) {
    process.stderr.write(HELP);
    return 2;
  }
  const bad = (msg: string) => {
    throw new Error(msg);
  };
  let url: URL;
  try {
    url = new URL(values.host);
  } catch {
    return bad(`--host "${values.host}" is not a URL (expected ws://HOST:PORT or wss://HOST:PORT)`);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:')
    bad(`--host must start with ws:// or wss://, got ${url.protocol}//`);
  const token = values.token ?? process.env.S4OP_TOKEN ?? '';
  if (!token) bad('no token: pass --token T or set S4OP_TOKEN (the host refuses agents without it)');
  const name =
    values.name ??
    os
      .hostname()
      .replace(/[^A-Za-z0-9._-]/g, '-')
      .slice(0, 64);
  if (!LABEL.test(name)) bad(`--name "${name}" must be 1–64 characters of A–Z a–z 0–9 . _ -`);
  const tags = (values.tags ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  for (const t of tags) if (!LABEL.test(t)) bad(`tag "${t}" must be 1–64 characters of A–Z a–z 0–9 . _ -`);
  const maxMb = Number(values['cache-max-mb'] ?? 1024);
  if (!(Number.isFinite(maxMb) && maxMb > 0))
    bad(`--cache-max-mb must be a positive number, got "${values['cache-max-mb']}"`);
  for (const r of values['disable-runtime'] ?? []) {
    if (!runtimeNames().includes(r)) bad(`--disable-runtime takes ${runtimeNames().join(' or ')}, got "${r}"`);
  }
  let serve: { port: number; bind?: string; threads?: number } | undefined;
  const servePort = values['serve-port'] ?? process.env.S4OP_SERVE_PORT;
  if (servePort !== undefined) {
    const port = Number(servePort);
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      bad(`--serve-port must be an integer in 0–65535, got "${servePort}"`);
    const threads = Number(values['serve-threads'] ?? 1);
    if (!Number.isInteger(threads) || threads < 1 || threads > 256)
      bad(`--serve-threads must be an integer in 1–256, got "${values['serve-threads']}"`);
    serve = { port, bind: values['serve-bind'] ?? '127.0.0.1', threads };
  } else if (values['serve-bind'] || values['serve-threads']) {
    bad('--serve-bind and --serve-threads need --serve-port');
  }
  let ca: Buffer | undefined;
  if (values.ca) {
    try {
      ca = readFileSync(values.ca);
    } catch (err) {
      bad(`--ca ${values.ca}: ${(err as Error).message}`);
    }
  }

  // Models are untrusted: the agent (and its measurement processes) run in an empty folder of their own, so
  // nothing relative to the working directory (the service manager's "/", a user's home) is within reach.
  try {
    const work = path.join(cacheDir, 'work');
    mkdirSync(work, { recursive: true, mode: 0o700 });
    process.chdir(work);
  } catch (err) {
    bad(
      `--cache-dir ${cacheDir}: cannot use ${path.join(cacheDir, 'work')} as the working directory: ${(err as Error).message}`,
    );
  }

  const agent = new Agent({
    url: url.toString(),
    token,
    name,
    tags,
    cacheDir,
    cacheMaxBytes: Math.round(maxMb * 2 ** 20),
    ca,
    insecure: values.insecure,
    disable: values['disable-runtime'],
    serve,
  });
  const stopped = new Promise<number>((resolve) => {
    const stop = (sig: string) => {
      agent.log(`${sig}: stopping`);
      agent.stop();
      resolve(0);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  await agent.start();
  return Promise.race([stopped, agent.fatal.then(() => 3)]);
}

try {
  process.exitCode = await main(process.argv.slice(2));
  // Timers of a stopped link must not keep the process alive.
  setTimeout(() => process.exit(), 200).unref();
} catch (err) {
  process.stderr.write(`s4op-agent: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 2;
}
