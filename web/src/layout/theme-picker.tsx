import { useState } from 'react';
import { applyTheme, storedTheme, type ThemeChoice } from '../ui/theme.ts';

export function ThemePicker() {
  const [theme, setTheme] = useState<ThemeChoice>(storedTheme);
  return (
    <label className="theme-picker">
      <span className="visually-hidden">Theme</span>
      <select
        value={theme}
        onChange={(event) => {
          const choice = event.target.value as ThemeChoice;
          applyTheme(choice);
          setTheme(choice);
        }}
      >
        <option value="system">System theme</option>
        <option value="light">Light</option>
        <option value="dark">Dark</option>
      </select>
    </label>
  );
}
