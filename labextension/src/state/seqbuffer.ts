/**
 * Items ordered by their `seq`, without duplicates: the merge of REST pages and live events.
 */
export class SeqBuffer<T extends { seq: number }> {
  /** The items, ascending by `seq`. Do not mutate. */
  get items(): ReadonlyArray<T> {
    return this._items;
  }

  /** The highest `seq` held, 0 when empty. */
  get maxSeq(): number {
    const n = this._items.length;
    return n ? this._items[n - 1].seq : 0;
  }

  /** Bumped on every change; lets views skip work when nothing changed. */
  get version(): number {
    return this._version;
  }

  /** Merge items in; returns how many were new. */
  add(items: ReadonlyArray<T>): number {
    let added = 0;
    for (const item of items) {
      if (this._seqs.has(item.seq)) {
        continue;
      }
      this._seqs.add(item.seq);
      added += 1;
      const n = this._items.length;
      if (n === 0 || this._items[n - 1].seq < item.seq) {
        this._items.push(item);
      } else {
        this._items.splice(this._insertionIndex(item.seq), 0, item);
      }
    }
    if (added) {
      this._version += 1;
    }
    return added;
  }

  /** Index of the first item with a larger seq (binary search). */
  private _insertionIndex(seq: number): number {
    let low = 0;
    let high = this._items.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (this._items[mid].seq < seq) {
        low = mid + 1;
      } else {
        high = mid;
      }
    }
    return low;
  }

  private _items: T[] = [];
  private _seqs = new Set<number>();
  private _version = 0;
}
