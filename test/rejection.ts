/** The error `promise` rejects with, when it is an `errorClass`; any other outcome fails the test. */
export async function rejectionOf<E extends Error>(
  errorClass: abstract new (...args: never[]) => E,
  promise: Promise<unknown>,
): Promise<E> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof errorClass) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}
