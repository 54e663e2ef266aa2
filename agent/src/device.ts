import { readFile } from 'node:fs/promises';
import os from 'node:os';
import si from 'systeminformation';
import type { DeviceFacts } from '@s4op/shared';

/** What the agent tells the host about the board it runs on (schema in @s4op/shared). */
export type { DeviceFacts };

async function readTrimmed(path: string): Promise<string | null> {
  try {
    // The device-tree string ends with a NUL byte.
    const text = (await readFile(path, 'utf8')).replace(/\0/g, '').trim();
    return text.length > 0 ? text : null;
  } catch {
    return null;
  }
}

export async function boardModel(): Promise<string | null> {
  const pi = await readTrimmed('/proc/device-tree/model');
  if (pi) return pi;
  const tegra = await readTrimmed('/etc/nv_tegra_release');
  return tegra ? `NVIDIA Jetson (${tegra.split('\n')[0]})` : null;
}

/** MHz from systeminformation's GHz figures; null when the board does not report them. */
function mhz(ghz: number | null | undefined): number | null {
  return typeof ghz === 'number' && Number.isFinite(ghz) && ghz > 0 ? Math.round(ghz * 1000) : null;
}

export async function deviceFacts(): Promise<DeviceFacts> {
  const [cpu, speed, mem, osInfo, temp, board] = await Promise.all([
    si.cpu(),
    si.cpuCurrentSpeed(),
    si.mem(),
    si.osInfo(),
    si.cpuTemperature(),
    boardModel(),
  ]);
  const main = typeof temp.main === 'number' && Number.isFinite(temp.main) ? temp.main : null;
  return {
    hostname: os.hostname(),
    cpu_model: `${cpu.manufacturer} ${cpu.brand}`.trim() || os.cpus()[0]?.model || 'unknown',
    cores: cpu.cores || os.cpus().length,
    cpu_max_mhz: mhz(cpu.speedMax) ?? mhz(cpu.speed),
    cpu_current_mhz: mhz(speed.avg),
    memory_total_mb: Math.round(mem.total / 2 ** 20),
    os: `${osInfo.distro} ${osInfo.release}`.trim() || `${os.type()} ${os.release()}`,
    arch: process.arch,
    temperature_c: main,
    board_model: board,
  };
}
