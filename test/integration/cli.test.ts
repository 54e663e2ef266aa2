import { afterAll, describe, expect, it } from 'vitest';
import { AGENT_CLI, HOST_CLI, killAll, runCli } from '../helpers/processes.js';

afterAll(killAll);

describe('s4op CLI', () => {
  it('lists its commands in --help', async () => {
    const r = await runCli(HOST_CLI, ['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: s4op');
    expect(r.stdout).toMatch(/^\s+info\b/m);
  });

  it('prints its version', async () => {
    const r = await runCli(HOST_CLI, ['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('reports the chosen tfjs backend as JSON', async () => {
    const r = await runCli(HOST_CLI, ['info', '--json']);
    expect(r.code).toBe(0);
    const facts = JSON.parse(r.stdout);
    expect(['tensorflow', 'wasm', 'cpu']).toContain(facts.backend);
  });

  it('honours a forced backend and rejects an unknown one by name', async () => {
    const cpu = await runCli(HOST_CLI, ['info', '--json', '--backend', 'cpu']);
    expect(JSON.parse(cpu.stdout).backend).toBe('cpu');
    const bad = await runCli(HOST_CLI, ['info', '--backend', 'gpu9000']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('unknown tfjs backend "gpu9000"');
  });

  it('rejects an unknown command with a non-zero exit', async () => {
    const r = await runCli(HOST_CLI, ['frobnicate']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("unknown command 'frobnicate'");
  });
});

describe('s4op-agent CLI', () => {
  it('lists its commands in --help', async () => {
    const r = await runCli(AGENT_CLI, ['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('s4op-agent info');
  });

  it('prints device facts as JSON', async () => {
    const r = await runCli(AGENT_CLI, ['info', '--json']);
    expect(r.code).toBe(0);
    const facts = JSON.parse(r.stdout);
    expect(facts.device.cores).toBeGreaterThan(0);
    expect(facts.device.arch).toBe(process.arch);
    expect(facts.device.memory_total_mb).toBeGreaterThan(0);
  });

  it('rejects an unknown command by name', async () => {
    const r = await runCli(AGENT_CLI, ['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown command "frobnicate"');
  });
});

describe('the two CLIs agree on version and help', () => {
  it('print the version with -v, -V and --version', async () => {
    for (const cli of [HOST_CLI, AGENT_CLI]) {
      for (const flag of ['-v', '-V', '--version']) {
        const r = await runCli(cli, [flag]);
        expect(r.code, `${cli} ${flag}: ${r.stderr}`).toBe(0);
        expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
      }
    }
  });

  it('s4op-agent help [command] works like s4op help [command]', async () => {
    const all = await runCli(AGENT_CLI, ['help']);
    expect(all.code).toBe(0);
    expect(all.stdout).toContain('s4op-agent info');
    for (const args of [
      ['help', 'info'],
      ['info', '--help'],
    ]) {
      const r = await runCli(AGENT_CLI, args);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('Usage: s4op-agent info');
    }
    const peak = await runCli(AGENT_CLI, ['help', 'peak']);
    expect(peak.stdout).toContain('--again');
    const bad = await runCli(AGENT_CLI, ['help', 'frobnicate']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown command "frobnicate"');
  });
});
