// What every shim shares: an SDK failure as the event data recstate expects ({code, desc}).

/** {code, desc} from whatever an SDK rejected or threw with; code -1 when it gave none. */
export function failure(error) {
  const e = error || {};
  const n = Number(e.code);
  const code = e.code !== undefined && e.code !== null && e.code !== "" && Number.isInteger(n) ? n : -1;
  const desc = String(e.desc || e.message || e.msg || (typeof error === "string" ? error : ""));
  return { code, desc };
}

/** Run an SDK call that returns a promise (or a value); emit `<api>:ok` / `<api>:error`. */
export async function outcome(api, ctx, call, okData) {
  let result;
  try {
    result = await call();
  } catch (e) {
    ctx.emit(`${api}:error`, failure(e));
    return;
  }
  ctx.emit(`${api}:ok`, okData ? okData(result) : {});
}
