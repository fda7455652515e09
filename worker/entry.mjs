// The Worker's entry point: the module worker-build produces (build/index.js), with one guard.
// An exception escaping the Rust code (a panic, which is a bug; it is logged with its message by
// console_error_panic_hook) answers an OpenAI-shaped JSON error instead of the platform's HTML
// error page. The next request runs on a fresh instance of the module.
import Gateway, { GatewayState } from "../build/index.js";

export { GatewayState };

export default class extends Gateway {
  async fetch(request) {
    try {
      return await super.fetch(request);
    } catch (error) {
      console.error("uni-api: internal error:", error);
      const body = {
        error: {
          message: "internal error in the gateway (logged); please retry",
          type: "server_error",
          param: null,
          code: "internal_error",
        },
      };
      return new Response(JSON.stringify(body), { status: 500, headers: { "content-type": "application/json" } });
    }
  }
}
