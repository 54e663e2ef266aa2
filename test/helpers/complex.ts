/**
 * Complex numbers as [re, im], for float64 references that share no code with the implementation (the SSM
 * kernel and the state criteria are checked against formulas written with these).
 */
export type C = [number, number];
export const cmul = (a: C, b: C): C => [a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0]];
export const cdiv = (a: C, b: C): C => {
  const d = b[0] * b[0] + b[1] * b[1];
  return [(a[0] * b[0] + a[1] * b[1]) / d, (a[1] * b[0] - a[0] * b[1]) / d];
};
export const cexp = (a: C): C => [Math.exp(a[0]) * Math.cos(a[1]), Math.exp(a[0]) * Math.sin(a[1])];
export const cabs = (a: C) => Math.sqrt(a[0] * a[0] + a[1] * a[1]);
