// Short messages for errors that have no better home.
import { create } from "zustand";

export interface Toast {
  id: number;
  text: string;
}
let next = 1;
export const useToasts = create<{ toasts: Toast[]; push(text: string): void; dismiss(id: number): void }>((set) => ({
  toasts: [],
  push: (text) => {
    const id = next++;
    set((s) => ({ toasts: [...s.toasts, { id, text }] }));
    setTimeout(() => set((s) => ({ toasts: s.toasts.filter((t) => t.id !== id) })), 8000);
  },
  dismiss: (id) => set((s) => ({ toasts: s.toasts.filter((t) => t.id !== id) })),
}));
