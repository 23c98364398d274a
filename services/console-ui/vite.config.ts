import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";
import tailwindcss from "@tailwindcss/vite";

// The build goes to dist/, which kaos-server embeds and serves at the console port's root.
export default defineConfig({
  plugins: [react(), tailwindcss()],
  base: "/",
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 1000 },
  server: { proxy: { "/v2": "http://127.0.0.1:7351", "/metrics": "http://127.0.0.1:7351" } },
  test: { environment: "jsdom" },
});
