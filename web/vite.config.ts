// Builds the dashboard into the Python package (committed, so installs never need Node).
// The output must be byte-identical from one build to the next: no source maps, no
// timestamps, content-hashed file names only.
import react from '@vitejs/plugin-react';
import { defineConfig, type ProxyOptions } from 'vite';

const target = process.env.PLAYINGPACK_URL ?? 'http://127.0.0.1:4747';
const token = process.env.PLAYINGPACK_TOKEN;

// playingpack refuses cross-site changes, so the dev server presents itself as the
// proxy's own origin (and passes a token when the proxy wants one).
function toPlayingpack(ws = false): ProxyOptions {
  return {
    target,
    ws,
    changeOrigin: true,
    configure(proxy) {
      const sameOrigin = (request: { setHeader(name: string, value: string): void }) => {
        request.setHeader('origin', target);
        if (token) request.setHeader('x-playingpack-token', token);
      };
      proxy.on('proxyReq', sameOrigin);
      proxy.on('proxyReqWs', sameOrigin);
    },
  };
}

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: '../src/playingpack/static',
    emptyOutDir: true,
    sourcemap: false,
    target: 'es2022',
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
  server: {
    proxy: {
      '/api': toPlayingpack(),
      '/ws': toPlayingpack(true),
      '/v1': toPlayingpack(),
      '/health': toPlayingpack(),
    },
  },
});
