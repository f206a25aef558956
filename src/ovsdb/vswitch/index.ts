export * from './rows.ts';
export * from './qos.ts';
export * from './vswitch.ts';
export { embeddedVswitchSchema } from './schema.ts';
