# Install rules for everything that is not a compiled target: example configuration, the
# systemd unit, the logrotate snippet and the Postfix examples. (Binaries are installed by
# policyd/ and policyctl/, man pages by the top-level CMakeLists.txt.)
#
# Paths follow GNUInstallDirs: with CMAKE_INSTALL_PREFIX=/usr the config goes to /etc,
# the unit to /usr/lib/systemd/system. The unit names the installed binary and config paths.

set(DANE_SYSTEMD_UNITDIR "${CMAKE_INSTALL_PREFIX}/lib/systemd/system"
    CACHE PATH "Where to install dane-policyd.service")
set(DANE_LOGROTATE_DIR "${CMAKE_INSTALL_FULL_SYSCONFDIR}/logrotate.d"
    CACHE PATH "Where to install the logrotate snippet")
set(dane_confdir "${CMAKE_INSTALL_FULL_SYSCONFDIR}/dane-policyd")

# The unit: replace the Debian paths written in the source by the configured ones.
file(READ ${PROJECT_SOURCE_DIR}/contrib/systemd/dane-policyd.service dane_unit)
string(REPLACE "/usr/sbin/dane-policyd" "${CMAKE_INSTALL_FULL_SBINDIR}/dane-policyd" dane_unit "${dane_unit}")
string(REPLACE "/etc/dane-policyd/" "${dane_confdir}/" dane_unit "${dane_unit}")
file(WRITE ${PROJECT_BINARY_DIR}/contrib/dane-policyd.service "${dane_unit}")
install(FILES ${PROJECT_BINARY_DIR}/contrib/dane-policyd.service DESTINATION ${DANE_SYSTEMD_UNITDIR})
install(FILES contrib/systemd/dane-policyd.socket DESTINATION ${DANE_SYSTEMD_UNITDIR})

install(FILES contrib/logrotate/dane-policyd DESTINATION ${DANE_LOGROTATE_DIR})

# The example configuration: always as .example; as the real config file only when none exists
# (an upgrade never overwrites the operator's settings).
install(FILES contrib/dane-policyd.conf.example DESTINATION ${dane_confdir})
install(CODE "
  if(NOT EXISTS \"\$ENV{DESTDIR}${dane_confdir}/dane-policyd.conf\")
    file(INSTALL \"${PROJECT_SOURCE_DIR}/contrib/dane-policyd.conf.example\"
         DESTINATION \"${dane_confdir}\" RENAME dane-policyd.conf)
  endif()
")

install(FILES contrib/postfix/main.cf.example contrib/postfix/master.cf.example
        contrib/dane-policyd.conf.example
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
