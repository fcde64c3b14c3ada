import { afterEach, describe, expect, it, vi } from 'vitest';
import { live } from './live';
import { Resource } from './resource';

afterEach(() => {
  vi.useRealTimers();
});

/** A loader whose answers the test gives, one per call, in order. */
function loader() {
  const asked: string[] = [];
  const pending: ((value: string) => void)[] = [];
  const load = (key: string) => {
    asked.push(key);
    return new Promise<string>((resolve) => pending.push(resolve));
  };
  return { asked, load, answer: (value: string) => pending.shift()!(value) };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

function finishCall(): void {
  vi.useFakeTimers();
  live.finished.setSoon(live.finished.get() + 1);
  vi.advanceTimersByTime(16);
  vi.useRealTimers();
}

describe('Resource', () => {
  it('loads a key once for all who show it, and keeps its value', async () => {
    const { asked, load, answer } = loader();
    const resource = new Resource(load);
    const leave = [resource.watch('runs', false), resource.watch('runs', false)];
    expect(resource.states.get().get('runs')).toMatchObject({ value: null, loading: true });
    answer('two runs');
    await settle();
    expect(asked).toEqual(['runs']);
    expect(resource.states.get().get('runs')).toMatchObject({ value: 'two runs', loading: false });
    leave.forEach((stop) => stop());
  });

  it('reads a key that follows the live run again when calls finish, one request at a time', async () => {
    const { asked, load, answer } = loader();
    const resource = new Resource(load);
    const stop = resource.watch('live', true);
    const still = resource.watch('past', false);
    answer('live 1');
    answer('past');
    await settle();
    finishCall();
    finishCall(); // while the first read again is on its way: one more after it, not two
    expect(asked).toEqual(['live', 'past', 'live']);
    answer('live 2');
    await settle();
    expect(asked).toEqual(['live', 'past', 'live', 'live']);
    answer('live 3');
    await settle();
    expect(resource.states.get().get('live')?.value).toBe('live 3');
    stop();
    still();
    finishCall();
    expect(asked).toHaveLength(4);
  });

  it('keeps the value it had when a read fails, with the error and its code', async () => {
    let fail = false;
    const resource = new Resource<string>(() =>
      fail
        ? Promise.reject(Object.assign(new Error('History is off'), { code: 'history_off' }))
        : Promise.resolve('threads'),
    );
    const stop = resource.watch('live', true);
    await settle();
    fail = true;
    finishCall();
    await settle();
    expect(resource.states.get().get('live')).toEqual({
      value: 'threads',
      error: 'History is off',
      code: 'history_off',
      loading: false,
    });
    stop();
  });
});
