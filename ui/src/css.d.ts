// Style sheets are imported for esbuild to bundle them into app-<hash>.css.
declare module '*.css';
