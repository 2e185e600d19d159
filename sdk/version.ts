/** SDK version reported with metrics. */
export const SDK_VERSION = '0.1.0'
