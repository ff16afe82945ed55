//! The WebAssembly entry point: hydrates the server-rendered page, and
//! reports a panic to the server (`app::report`) besides the console.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        app::report::send("panic", &info.to_string());
    }));
    leptos::mount::hydrate_body(app::App);
}
