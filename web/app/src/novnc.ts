// novnc.ts: the vendored noVNC (web/static/novnc, served from /static), imported at run time so the
// app's bundle stays small and noVNC's modules stay the ones the rest of deskhub serves.
export interface RFB extends EventTarget {
  scaleViewport: boolean;
  resizeSession: boolean;
  clipViewport: boolean;
  dragViewport: boolean;
  focusOnClick: boolean;
  viewOnly: boolean;
  background: string;
  disconnect(): void;
  focus(): void;
  blur(): void;
  sendCredentials(c: { password?: string }): void;
  sendKey(keysym: number, code: string | null, down?: boolean): void;
  sendCtrlAltDel(): void;
  clipboardPasteFrom(text: string): void;
  getImageData(): ImageData;
}

export type RFBConstructor = new (target: HTMLElement, url: string, options?: { wsProtocols?: string[]; credentials?: { password?: string }; shared?: boolean }) => RFB;

const modulePath = "/static/novnc/core/rfb.js";
let loaded: Promise<RFBConstructor> | null = null;

// loadRFB imports noVNC's RFB class once (index.html preloads the module).
export function loadRFB(): Promise<RFBConstructor> {
  if (!loaded) loaded = import(/* the vendored module, not bundled */ modulePath).then((m) => m.default as RFBConstructor);
  return loaded;
}
