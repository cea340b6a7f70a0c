/** Returns the major number of a Linux dev_t, in glibc's gnu_dev_major layout. */
export function deviceMajor(rdev: number): number {
  const value = BigInt(rdev);
  return Number(((value >> 8n) & 0xfffn) | ((value >> 32n) & ~0xfffn));
}

/** Returns the minor number of a Linux dev_t, in glibc's gnu_dev_minor layout. */
export function deviceMinor(rdev: number): number {
  const value = BigInt(rdev);
  return Number((value & 0xffn) | ((value >> 12n) & ~0xffn));
}
