// The live settings: record and pause modes, holding requests, replay timing; and what the
// views show when it is not the live run.
import { useState, type ReactNode } from 'react';
import { api, type SettingsPatch } from '../api/http';
import type { SettingsJSON } from '../api/types.gen';
import { live } from '../stores/live';

const RECORD_MODES = ['auto', 'off', 'replay-only', 'refresh'];
const PAUSE_MODES = ['off', 'tool-calls', 'all'];
const TIMINGS = ['original', 'instant'];

/** `children` go at the end of the bar (what the views show, say). */
export function SettingsBar({
  settings: server,
  children,
}: {
  settings: SettingsJSON | null;
  children?: ReactNode;
}) {
  const [error, setError] = useState<string | null>(null);
  // Changes on their way to the server show at once; the server's answer replaces them.
  const [pending, setPending] = useState<SettingsPatch>({});
  const settings = server && { ...server, ...pending };

  async function change(patch: SettingsPatch): Promise<void> {
    const seen = live.settingsSeen;
    setPending((current) => ({ ...current, ...patch }));
    setError(null);
    try {
      live.patchedSettings(await api.patchSettings(patch), seen);
    } catch (failure) {
      setError(`Could not change ${Object.keys(patch).join(', ')}: ${(failure as Error).message}`);
    } finally {
      setPending((current) => {
        const rest = { ...current };
        for (const key of Object.keys(patch) as (keyof SettingsPatch)[])
          if (rest[key] === patch[key]) delete rest[key];
        return rest;
      });
    }
  }

  const disabled = settings === null;
  return (
    <div className="settings" role="group" aria-label="Settings" aria-busy={Object.keys(pending).length > 0}>
      <label className="field">
        <span>Record</span>
        <select
          data-testid="record-mode"
          value={settings?.record ?? ''}
          disabled={disabled}
          onChange={(event) => void change({ record: event.target.value as SettingsJSON['record'] })}
        >
          {settings === null && <option value="" />}
          {RECORD_MODES.map((mode) => (
            <option key={mode} value={mode}>
              {mode}
            </option>
          ))}
        </select>
      </label>
      <label className="field">
        <span>Pause</span>
        <select
          data-testid="pause-mode"
          value={settings?.pause ?? ''}
          disabled={disabled}
          onChange={(event) => void change({ pause: event.target.value as SettingsJSON['pause'] })}
        >
          {settings === null && <option value="" />}
          {PAUSE_MODES.map((mode) => (
            <option key={mode} value={mode}>
              {mode}
            </option>
          ))}
        </select>
      </label>
      <label className="field check" title="Also hold each call before it is sent">
        <input
          type="checkbox"
          data-testid="pause-requests"
          checked={settings?.pause_requests ?? false}
          disabled={disabled}
          onChange={(event) => void change({ pause_requests: event.target.checked })}
        />
        <span>Hold requests</span>
      </label>
      <label className="field">
        <span>Replay</span>
        <select
          data-testid="replay-timing"
          value={settings?.replay_timing ?? ''}
          disabled={disabled}
          onChange={(event) =>
            void change({ replay_timing: event.target.value as SettingsJSON['replay_timing'] })
          }
        >
          {settings === null && <option value="" />}
          {TIMINGS.map((mode) => (
            <option key={mode} value={mode}>
              {mode}
            </option>
          ))}
        </select>
      </label>
      {settings && <span className="muted hint">holds time out after {settings.hold_timeout} s</span>}
      {error && (
        <span className="inline-error" role="alert" data-testid="settings-error">
          {error}
          <button type="button" className="link-button" aria-label="Dismiss" onClick={() => setError(null)}>
            ×
          </button>
        </span>
      )}
      {children && <span className="spacer" />}
      {children}
    </div>
  );
}
