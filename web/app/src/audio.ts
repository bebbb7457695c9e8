// audio.ts plays a desktop's sound in the browser.
//
// The broker serves it as a websocket beside the display, GET /ws/audio/<session id> (same origin: the
// session cookie authenticates it; a share key's holder, with or without an account, offers the key as
// the subprotocol "deskhub.share-key.<key>", which keeps it out of URLs and proxies' access logs). Its
// first message is a JSON
// header, {format: "s16le", rate, channels, frameMs, skipsSilence}; every next one is a binary frame of
// interleaved signed 16-bit little-endian PCM (24 kHz stereo, 20 ms: 1920 bytes). Frames of pure silence
// are not sent, so a gap is silence, not loss.
//
// Playback is scheduled AudioBufferSourceNodes behind a small jitter buffer (bufferMs, 80 ms by
// default): the first frame after a gap starts bufferMs after it arrived, the next ones right after
// each other. An AudioContext may only start after a user gesture, so the page shows the sound muted
// and calls start() from the click that unmutes it; stop() mutes (closes the websocket: the desktop
// records only while someone listens).
//
// No imports: the module stands alone (the app bundles it; test/browser transpiles it on its own).

/** The first message of the audio websocket. */
export interface AudioHeader {
  format: string;
  rate: number;
  channels: number;
  frameMs: number;
  skipsSilence: boolean;
}

export interface AudioPlayerOptions {
  /** The websocket's URL; default ws(s)://<this host>/ws/audio/<session id>. */
  url?: string;
  /** A share key of the session (for its holder, viewer or granter), offered as the websocket subprotocol deskhub.share-key.<key>. */
  shareKey?: string;
  /** How far ahead of the arrival of the first frame after a gap playback starts; default 80 ms. */
  bufferMs?: number;
  /** An AudioContext to play into (default: one of its own, closed by stop()). */
  context?: AudioContext;
}

export interface AudioStats {
  /** Frames received. */
  frames: number;
  /** Frames that came after the buffer had run dry while sound was playing (re-buffered). */
  underruns: number;
  /** Frames dropped because the buffer held more than 4 × bufferMs (a burst after a stall). */
  dropped: number;
  /** performance.now() when the last frame arrived, and its peak (0..1). */
  lastAt: number;
  lastPeak: number;
}

export class AudioPlayer {
  readonly sessionId: string;
  /** The context sound plays in (null before start()). */
  context: AudioContext | null = null;
  /** Every frame goes through this node to the speakers: a volume, or a tap for an AnalyserNode. */
  output: GainNode | null = null;
  /** The stream's format, once start() resolved. */
  header: AudioHeader | null = null;
  readonly stats: AudioStats = { frames: 0, underruns: 0, dropped: 0, lastAt: 0, lastPeak: 0 };
  /** Called for each frame as it arrives: its peak (0..1) and performance.now(). */
  onframe: ((peak: number, at: number) => void) | null = null;
  /** Called when the stream ends by itself (the desktop ended, the credentials were revoked…). */
  onclose: ((code: number, reason: string) => void) | null = null;

  private readonly url: string;
  private readonly protocols: string[];
  private readonly bufferS: number;
  private readonly ownContext: boolean;
  private ws: WebSocket | null = null;
  private next = 0; // context time at which the next frame starts; 0: nothing scheduled
  private lastEnd = 0; // context time at which the last scheduled frame ends

  constructor(sessionId: string, opts: AudioPlayerOptions = {}) {
    this.sessionId = sessionId;
    this.bufferS = Math.max(0, opts.bufferMs ?? 80) / 1000;
    this.context = opts.context ?? null;
    this.ownContext = !opts.context;
    this.protocols = opts.shareKey ? [`deskhub.share-key.${opts.shareKey}`] : [];
    if (opts.url) {
      this.url = opts.url;
    } else {
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      this.url = `${scheme}//${location.host}/ws/audio/${encodeURIComponent(sessionId)}`;
    }
  }

  /** Whether the websocket is open (or opening). */
  get playing(): boolean {
    return this.ws !== null;
  }

  /**
   * Opens the stream and plays it; resolves once the header came (rejects if the websocket fails
   * before). Call it from a user gesture (the unmute click): browsers start audio only then.
   */
  async start(): Promise<void> {
    if (this.ws) return;
    if (!this.context) this.context = new AudioContext({ latencyHint: "interactive" });
    const ctx = this.context;
    if (ctx.state === "suspended") await ctx.resume();
    this.output = ctx.createGain();
    this.output.connect(ctx.destination);
    this.next = 0;
    const ws = new WebSocket(this.url, this.protocols);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    await new Promise<void>((resolve, reject) => {
      let started = false;
      ws.onmessage = (ev: MessageEvent) => {
        if (typeof ev.data === "string") {
          let h: AudioHeader;
          try {
            h = JSON.parse(ev.data) as AudioHeader;
          } catch {
            h = { format: "", rate: 0, channels: 0, frameMs: 0, skipsSilence: false };
          }
          if (h.format !== "s16le" || !(h.rate >= 8000 && h.rate <= 192000) || !(h.channels >= 1 && h.channels <= 8)) {
            ws.close(1003, "unsupported audio format");
            reject(new Error(`audio: unsupported format ${ev.data}`));
            return;
          }
          this.header = h;
          started = true;
          resolve();
          return;
        }
        this.play(ev.data as ArrayBuffer);
      };
      ws.onerror = () => {
        if (!started) reject(new Error("audio: the websocket failed (not logged in, no access to this desktop, or no sound there)"));
      };
      ws.onclose = (ev: CloseEvent) => {
        if (!started) {
          reject(new Error(`audio: the websocket closed (${ev.code} ${ev.reason})`));
        } else if (this.ws === ws && this.onclose) {
          this.onclose(ev.code, ev.reason);
        }
        if (this.ws === ws) this.release();
      };
    }).catch((err) => {
      this.stop();
      throw err;
    });
  }

  /** Stops playing and closes the websocket (and the player's own AudioContext). */
  stop(): void {
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000, "muted");
    this.release();
  }

  private release(): void {
    this.ws = null;
    if (this.output) {
      this.output.disconnect();
      this.output = null;
    }
    if (this.ownContext && this.context) {
      void this.context.close();
      this.context = null;
    }
    this.next = 0;
  }

  /** Schedules one frame of PCM. */
  private play(buf: ArrayBuffer): void {
    const h = this.header;
    const ctx = this.context;
    const out = this.output;
    if (!h || !ctx || !out) return;
    const ch = h.channels;
    const n = Math.floor(buf.byteLength / 2 / ch);
    if (n === 0) return;
    const now = performance.now();
    const ab = ctx.createBuffer(ch, n, h.rate);
    const view = new DataView(buf);
    let peak = 0;
    for (let c = 0; c < ch; c++) {
      const d = ab.getChannelData(c);
      for (let i = 0, o = c * 2; i < n; i++, o += ch * 2) {
        const v = view.getInt16(o, true) / 32768;
        d[i] = v;
        const a = v < 0 ? -v : v;
        if (a > peak) peak = a;
      }
    }
    this.stats.frames++;
    this.stats.lastAt = now;
    this.stats.lastPeak = peak;
    if (this.onframe) this.onframe(peak, now);

    const t = ctx.currentTime;
    if (this.next < t + 0.002) {
      // Nothing queued (the first frame, or after silence), or the queue ran dry: start anew a
      // buffer's length ahead. A dry queue right after sound (the last frame ends less than a frame
      // ago) is an underrun; after a longer gap it is the silence the broker did not send.
      if (this.next > 0 && t - this.lastEnd < (h.frameMs / 1000) * 2) this.stats.underruns++;
      this.next = t + this.bufferS;
    } else if (this.next - t > this.bufferS * 4 + 0.1) {
      this.stats.dropped++; // far behind: drop rather than let latency grow
      return;
    }
    const src = ctx.createBufferSource();
    src.buffer = ab;
    src.connect(out);
    src.start(this.next);
    this.next += ab.duration;
    this.lastEnd = this.next;
  }
}
