/** The JSON body of a fetch response, typed loosely for assertions. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const body = async (res: Response): Promise<any> => res.json();
