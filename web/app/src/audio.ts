// audio.ts: PLACEHOLDER. The desktop's sound (websocket /ws/audio/{session_id}, played with Web
// Audio) comes from the audio work; this file keeps its interface so the viewer's mute button is wired:
// start() runs from the unmute click (a user gesture, as browsers want for audio), stop() on mute or
// when the viewer closes.
export class AudioPlayer {
  private sessionId: string;
  constructor(sessionId: string) {
    this.sessionId = sessionId;
  }
  async start(): Promise<void> {
    console.info(`deskhub: sound for ${this.sessionId} is not built into this version`);
  }
  stop(): void {
    console.info(`deskhub: sound for ${this.sessionId} stopped`);
  }
}
